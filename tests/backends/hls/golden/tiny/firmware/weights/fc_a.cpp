// fpga-flow generated file: constant arrays of layer fc_a. Do not edit.
// Each word holds the raw bits of one element (fpga_flow::rom in lib/fpga_flow_common.h): the
// two's-complement mantissa of a fixed-point value, or an unsigned index.
#include "../weights.h"

namespace fpga_flow_model {

// weight_t mantissas: value = word * 2^-7
const fpga_flow::rom<fc_a_cfg::weight_t>::type fc_a_w[2][7] = {
    {
        70, -16, -18, 91, 50, -77, -104,
    },
    {
        0, 0, 72, -25, 82, -15, 0,
    },
};

// col_t: unsigned integers
const fpga_flow::rom<fc_a_cfg::col_t>::type fc_a_col[2][7] = {
    {
        1, 3, 4, 5, 1, 2, 3,
    },
    {
        0, 0, 0, 2, 3, 5, 0,
    },
};

// ap_uint<1>: unsigned integers
const fpga_flow::rom<ap_uint<1> >::type fc_a_last[2][7] = {
    {
        0, 0, 0, 1, 0, 0, 1,
    },
    {
        1, 1, 0, 0, 0, 1, 0,
    },
};

// lane_t: unsigned integers
const fpga_flow::rom<fc_a_cfg::lane_t>::type fc_a_lane[5] = {
    0, 0, 1, 1, 1,
};

// slot_t: unsigned integers
const fpga_flow::rom<fc_a_cfg::slot_t>::type fc_a_slot[5] = {
    0, 1, 0, 1, 2,
};

// bias_t mantissas: value = word * 2^-8
const fpga_flow::rom<fc_a_cfg::bias_t>::type fc_a_b[5] = {
    -133, 624, 699, -231, 815,
};

}  // namespace fpga_flow_model
