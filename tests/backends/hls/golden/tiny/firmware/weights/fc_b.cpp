// fpga-flow generated file: constant arrays of layer fc_b (exact values). Do not edit.
#include "../weights.h"

namespace fpga_flow_model {

const fc_b_cfg::code_t fc_b_code[2][9] = {
    {
        0, 0, 2, 1, 0, 2, 2, 1, 2,
    },
    {
        2, 0, 2, 0, 2, 0, 0, 0, 0,
    },
};

const fc_b_cfg::col_t fc_b_col[2][9] = {
    {
        0, 1, 2, 3, 4, 0, 1, 2, 4,
    },
    {
        0, 1, 2, 3, 4, 0, 0, 0, 0,
    },
};

const ap_uint<1> fc_b_last[2][9] = {
    {
        0, 0, 0, 0, 1, 0, 0, 0, 1,
    },
    {
        0, 0, 0, 0, 1, 0, 0, 0, 0,
    },
};

const fc_b_cfg::lane_t fc_b_lane[3] = {
    0, 1, 0,
};

const fc_b_cfg::slot_t fc_b_slot[3] = {
    0, 0, 1,
};

const fc_b_cfg::bias_t fc_b_b[3] = {
    3.859375, -2.28515625, -1.7890625,
};

}  // namespace fpga_flow_model
