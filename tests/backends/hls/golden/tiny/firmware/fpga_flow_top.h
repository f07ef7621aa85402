// fpga-flow generated file: top-level function and its AXI4-Stream word types. Do not edit.
#ifndef FPGA_FLOW_TOP_H_
#define FPGA_FLOW_TOP_H_

#include "lib/fpga_flow.h"

// Stream formats (fpga_flow/stream.py): elements little-end first, per_beat per beat, TLAST on
// the last beat of a sample.
namespace fpga_flow_io {
// input: 6 elements of ap_fixed<8,4,AP_RND_CONV,AP_SAT>, 6 per 48-bit beat, 1 beat(s) per sample
struct in_fmt {
    static const unsigned n = 6;
    static const unsigned width = 8;
    static const unsigned per_beat = 6;
    static const unsigned beats = 1;
    static const unsigned tdata = 48;
    static const bool is_signed = true;
};
// output: 3 elements of ap_fixed<8,3,AP_RND_CONV,AP_SAT_SYM>, 3 per 24-bit beat, 1 beat(s) per sample
struct out_fmt {
    static const unsigned n = 3;
    static const unsigned width = 8;
    static const unsigned per_beat = 3;
    static const unsigned beats = 1;
    static const unsigned tdata = 24;
    static const bool is_signed = true;
};
}  // namespace fpga_flow_io

typedef fpga_flow::axis_word<48>::type fpga_flow_in_t;
typedef fpga_flow::axis_word<24>::type fpga_flow_out_t;

// Free-running stream kernel (ap_ctrl_none): ports ap_clk, ap_rst_n, in_r_*, out_r_*.
// Each call (in C simulation) consumes one sample and produces one sample.
void fpga_flow_top(hls::stream<fpga_flow_in_t> &in_r, hls::stream<fpga_flow_out_t> &out_r);

#endif
