// fpga-flow generated file: constant arrays of layer fc_a (exact values). Do not edit.
#include "../weights.h"

namespace fpga_flow_model {

const fc_a_cfg::weight_t fc_a_w[2][7] = {
    {
        0.546875, -0.125, -0.140625, 0.7109375, 0.390625, -0.6015625, -0.8125,
    },
    {
        0.5625, -0.1953125, 0.640625, -0.1171875, 0.0, 0.0, 0.0,
    },
};

const fc_a_cfg::col_t fc_a_col[2][7] = {
    {
        1, 3, 4, 5, 1, 2, 3,
    },
    {
        0, 2, 3, 5, 0, 0, 0,
    },
};

const ap_uint<1> fc_a_last[2][7] = {
    {
        0, 0, 0, 1, 0, 0, 1,
    },
    {
        0, 0, 0, 1, 0, 0, 0,
    },
};

const fc_a_cfg::lane_t fc_a_lane[5] = {
    0, 0, 0, 0, 1,
};

const fc_a_cfg::slot_t fc_a_slot[5] = {
    0, 1, 2, 2, 0,
};

const fc_a_cfg::bias_t fc_a_b[5] = {
    -0.51953125, 2.4375, 2.73046875, -0.90234375, 3.18359375,
};

}  // namespace fpga_flow_model
