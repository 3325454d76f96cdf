#include "core/aead.h"
