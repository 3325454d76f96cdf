#include "core/cookie.h"
