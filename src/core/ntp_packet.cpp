#include "core/ntp_packet.h"
