#include "core/nts_keys.h"
