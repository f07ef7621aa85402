// fpga-flow HLS library: AXI4-Stream words and the pack/unpack of fixed-point vectors.
//
// Format (fpga_flow/stream.py, contract 4): elements are two's-complement mantissas of `width`
// bits, element 0 in the lowest bits, `per_beat` elements per beat, unused high bits zero, TDATA
// `tdata` bits (a multiple of 8); TLAST is set on the last beat of each sample.
//
// The word type has exactly the fields `data` and `last`, so the ports are TDATA, TVALID, TREADY
// and TLAST:
//  * g++ and Vivado HLS: a plain struct (Vivado HLS maps the field `last` to TLAST);
//  * Vitis HLS with hls::axis enable flags (2023.1+): hls::axis with DATA and LAST only;
//  * older Vitis HLS: ap_axiu<W,0,0,0>, which adds TKEEP/TSTRB (driven all ones).
#ifndef FPGA_FLOW_AXIS_H_
#define FPGA_FLOW_AXIS_H_

#include "fpga_flow_common.h"

#if defined(__VITIS_HLS__)
#include "ap_axi_sdata.h"
#endif

namespace fpga_flow {

#if defined(__VITIS_HLS__) && defined(AXIS_ENABLE_LAST)
template <int D>
struct axis_word {
    typedef hls::axis<ap_uint<D>, 0, 0, 0, (AXIS_ENABLE_DATA | AXIS_ENABLE_LAST), true> type;
};
template <class W>
void axis_side_channels(W &) {}
#elif defined(__VITIS_HLS__)
template <int D>
struct axis_word {
    typedef ap_axiu<D, 0, 0, 0> type;
};
template <class W>
void axis_side_channels(W &w) {
#pragma HLS INLINE
    w.keep = -1;
    w.strb = -1;
}
#else
template <int D>
struct axis_beat {
    ap_uint<D> data;
    ap_uint<1> last;
};
template <int D>
struct axis_word {
    typedef axis_beat<D> type;
};
template <class W>
void axis_side_channels(W &) {}
#endif

// One sample: beats from the AXI4-Stream -> IO_T::n elements, one per cycle.
// IO_T has static members n, width, per_beat, tdata. TLAST is not needed to frame samples.
template <class x_T, class word_T, class IO_T>
void axis_unpack(hls::stream<word_T> &in, hls::stream<x_T> &out) {
#pragma HLS INLINE off
    ap_uint<IO_T::tdata> d = 0;
    unsigned k = 0;
UnpackLoop:
    for (unsigned i = 0; i < IO_T::n; i++) {
#pragma HLS PIPELINE II=1
        if (k == 0) {
            word_T w = in.read();
            d = w.data;
        }
        ap_uint<IO_T::width> bits = d(IO_T::width - 1, 0);
        x_T x;
        x(IO_T::width - 1, 0) = bits;
        out.write(x);
        if (IO_T::per_beat > 1) {
            d = d >> IO_T::width;
        }
        k = (k == IO_T::per_beat - 1) ? 0 : k + 1;
    }
}

// One sample: IO_T::n elements -> beats on the AXI4-Stream, TLAST on the last beat.
template <class y_T, class word_T, class IO_T>
void axis_pack(hls::stream<y_T> &in, hls::stream<word_T> &out) {
#pragma HLS INLINE off
    ap_uint<IO_T::tdata> d = 0;
    unsigned k = 0;
PackLoop:
    for (unsigned i = 0; i < IO_T::n; i++) {
#pragma HLS PIPELINE II=1
        y_T y = in.read();
        ap_uint<IO_T::width> bits = y(IO_T::width - 1, 0);
        for (unsigned q = 0; q < IO_T::per_beat; q++) {
#pragma HLS UNROLL
            if (q == k) {
                d(q * IO_T::width + IO_T::width - 1, q * IO_T::width) = bits;
            }
        }
        if (k == IO_T::per_beat - 1 || i == IO_T::n - 1) {
            word_T w;
            w.data = d;
            w.last = (i == IO_T::n - 1) ? 1 : 0;
            axis_side_channels(w);
            out.write(w);
            d = 0;
            k = 0;
        } else {
            k++;
        }
    }
}

}  // namespace fpga_flow

#endif
