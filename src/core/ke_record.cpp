#include "core/ke_record.h"
