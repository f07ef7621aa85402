// fpga-flow generated file: constant arrays of layer fc_b. Do not edit.
// Each word holds the raw bits of one element (fpga_flow::rom in lib/fpga_flow_common.h): the
// two's-complement mantissa of a fixed-point value, or an unsigned index.
#include "../weights.h"

namespace fpga_flow_model {

// code_t: unsigned integers
const fpga_flow::rom<fc_b_cfg::code_t>::type fc_b_code[2][9] = {
    {
        0, 0, 2, 1, 0, 2, 2, 1, 2,
    },
    {
        2, 0, 2, 0, 2, 0, 0, 0, 0,
    },
};

// col_t: unsigned integers
const fpga_flow::rom<fc_b_cfg::col_t>::type fc_b_col[2][9] = {
    {
        0, 1, 2, 3, 4, 0, 1, 2, 4,
    },
    {
        0, 1, 2, 3, 4, 0, 0, 0, 0,
    },
};

// ap_uint<1>: unsigned integers
const fpga_flow::rom<ap_uint<1> >::type fc_b_last[2][9] = {
    {
        0, 0, 0, 0, 1, 0, 0, 0, 1,
    },
    {
        0, 0, 0, 0, 1, 0, 0, 0, 0,
    },
};

// lane_t: unsigned integers
const fpga_flow::rom<fc_b_cfg::lane_t>::type fc_b_lane[3] = {
    0, 1, 0,
};

// slot_t: unsigned integers
const fpga_flow::rom<fc_b_cfg::slot_t>::type fc_b_slot[3] = {
    0, 0, 1,
};

// bias_t mantissas: value = word * 2^-8
const fpga_flow::rom<fc_b_cfg::bias_t>::type fc_b_b[3] = {
    988, -585, -458,
};

}  // namespace fpga_flow_model
