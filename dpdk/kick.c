#include "kick.h"

struct dps_kick *dps_tx_kick[RTE_MAX_ETHPORTS];
struct dps_kick *dps_rx_kick[RTE_MAX_ETHPORTS];
