#include "core/extension_field.h"
