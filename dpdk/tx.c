#include "tx.h"

uint8_t dps_tx_flat[RTE_MAX_ETHPORTS];
