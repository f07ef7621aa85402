// fpga-flow generated file: per-layer types and kernel configurations. Do not edit.
#ifndef FPGA_FLOW_PARAMETERS_H_
#define FPGA_FLOW_PARAMETERS_H_

#include "lib/fpga_flow.h"

namespace fpga_flow_model {

// output type of each layer (the element type of the stream it writes)
typedef ap_fixed<8,4,AP_RND_CONV,AP_SAT> x_in_type;
typedef ap_ufixed<8,4,AP_RND_CONV,AP_SAT> fc_a_type;
typedef ap_fixed<10,4,AP_RND,AP_SAT> fc_b_type;
typedef ap_fixed<8,3,AP_RND_CONV,AP_SAT_SYM> q_type;

// layer fc_a: csr kernel, 6 -> 5, 11 nonzeros, 2 lane(s), 7 entries
struct fc_a_cfg {
    static const unsigned n_in = 6;
    static const unsigned n_out = 5;
    static const unsigned lanes = 2;
    static const unsigned lane_len = 7;
    static const unsigned slots = 3;
    static const unsigned shift_p = 0;
    static const unsigned shift_b = 3;
    static const bool relu = true;
    typedef ap_fixed<8,1,AP_RND_CONV,AP_SAT> weight_t;
    typedef ap_fixed<12,4,AP_RND_CONV,AP_SAT> bias_t;
    typedef ap_fixed<17,6> acc_t;
    typedef ap_uint<1> lane_t;
    typedef ap_uint<2> slot_t;
    typedef ap_uint<3> col_t;
};

// layer fc_b: codebook_factored kernel, 5 -> 3, 14 nonzeros, 2 lane(s), 9 entries
struct fc_b_cfg {
    static const unsigned n_in = 5;
    static const unsigned n_out = 3;
    static const unsigned lanes = 2;
    static const unsigned lane_len = 9;
    static const unsigned slots = 2;
    static const unsigned shift_p = 0;
    static const unsigned shift_b = 3;
    static const unsigned n_codes = 3;
    static const bool relu = false;
    typedef ap_fixed<8,1,AP_RND_CONV,AP_SAT> weight_t;
    typedef ap_fixed<12,4,AP_RND_CONV,AP_SAT> bias_t;
    typedef ap_fixed<18,7> acc_t;
    typedef ap_uint<1> lane_t;
    typedef ap_uint<1> slot_t;
    typedef ap_uint<3> col_t;
    typedef ap_uint<2> code_t;
    typedef ap_fixed<11,7> sum_t;
    // the codebook: constants, kept in registers
    static void codebook(weight_t cb[3]) {
#pragma HLS INLINE
        cb[0] = -0.390625;
        cb[1] = 0.1015625;
        cb[2] = 0.546875;
    }
};

// layer q: point-wise, 3 elements
struct q_cfg {
    static const unsigned n = 3;
    static const unsigned lanes = 2;
    static const unsigned acc_width = 10;
    static const bool relu = false;
    typedef ap_fixed<10,4> ext_t;
    typedef ap_fixed<10,4> acc_t;
};

}  // namespace fpga_flow_model

#endif
