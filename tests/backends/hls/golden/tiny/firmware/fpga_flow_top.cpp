// fpga-flow generated file: the top function wires the library kernels. Do not edit.
#include "fpga_flow_top.h"
#include "parameters.h"
#include "weights.h"

void fpga_flow_top(hls::stream<fpga_flow_in_t> &in_r, hls::stream<fpga_flow_out_t> &out_r) {
#pragma HLS INTERFACE axis port=in_r
#pragma HLS INTERFACE axis port=out_r
#pragma HLS INTERFACE ap_ctrl_none port=return
#pragma HLS DATAFLOW
    hls::stream<fpga_flow_model::x_in_type> x_in_s("x_in_s");
    hls::stream<fpga_flow_model::fc_a_type> fc_a_s("fc_a_s");
    hls::stream<fpga_flow_model::fc_b_type> fc_b_s("fc_b_s");
    hls::stream<fpga_flow_model::q_type> q_s("q_s");

    fpga_flow::axis_unpack<fpga_flow_model::x_in_type, fpga_flow_in_t, fpga_flow_io::in_fmt>(in_r, x_in_s);
    // layer fc_a
    fpga_flow::csr_layer<fpga_flow_model::x_in_type, fpga_flow_model::fc_a_type, fpga_flow_model::fc_a_cfg>(
        x_in_s, fc_a_s,
        fpga_flow_model::fc_a_w,
        fpga_flow_model::fc_a_col,
        fpga_flow_model::fc_a_last,
        fpga_flow_model::fc_a_lane,
        fpga_flow_model::fc_a_slot,
        fpga_flow_model::fc_a_b);
    // layer fc_b
    fpga_flow::codebook_factored_layer<fpga_flow_model::fc_a_type, fpga_flow_model::fc_b_type, fpga_flow_model::fc_b_cfg>(
        fc_a_s, fc_b_s,
        fpga_flow_model::fc_b_code,
        fpga_flow_model::fc_b_col,
        fpga_flow_model::fc_b_last,
        fpga_flow_model::fc_b_lane,
        fpga_flow_model::fc_b_slot,
        fpga_flow_model::fc_b_b);
    // layer q
    fpga_flow::pointwise_layer<fpga_flow_model::fc_b_type, fpga_flow_model::q_type, fpga_flow_model::q_cfg>(
        fc_b_s, q_s);
    fpga_flow::axis_pack<fpga_flow_model::q_type, fpga_flow_out_t, fpga_flow_io::out_fmt>(q_s, out_r);
}
