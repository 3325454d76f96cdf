#include "core/nts_client_codec.h"
