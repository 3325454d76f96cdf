#include "core/ke_negotiation.h"
