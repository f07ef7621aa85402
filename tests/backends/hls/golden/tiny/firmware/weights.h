// fpga-flow generated file: declarations of the weight arrays (defined in weights/*.cpp). Do not edit.
#ifndef FPGA_FLOW_WEIGHTS_H_
#define FPGA_FLOW_WEIGHTS_H_

#include "parameters.h"

namespace fpga_flow_model {

extern const fpga_flow::rom<fc_a_cfg::weight_t>::type fc_a_w[2][7];
extern const fpga_flow::rom<fc_a_cfg::col_t>::type fc_a_col[2][7];
extern const fpga_flow::rom<ap_uint<1> >::type fc_a_last[2][7];
extern const fpga_flow::rom<fc_a_cfg::lane_t>::type fc_a_lane[5];
extern const fpga_flow::rom<fc_a_cfg::slot_t>::type fc_a_slot[5];
extern const fpga_flow::rom<fc_a_cfg::bias_t>::type fc_a_b[5];
extern const fpga_flow::rom<fc_b_cfg::code_t>::type fc_b_code[2][9];
extern const fpga_flow::rom<fc_b_cfg::col_t>::type fc_b_col[2][9];
extern const fpga_flow::rom<ap_uint<1> >::type fc_b_last[2][9];
extern const fpga_flow::rom<fc_b_cfg::lane_t>::type fc_b_lane[3];
extern const fpga_flow::rom<fc_b_cfg::slot_t>::type fc_b_slot[3];
extern const fpga_flow::rom<fc_b_cfg::bias_t>::type fc_b_b[3];

}  // namespace fpga_flow_model

#endif
