#include "core/ntp_handler.h"
