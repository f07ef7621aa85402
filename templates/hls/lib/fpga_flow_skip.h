// fpga-flow HLS library: activation-skipping layer (EIE style, Han et al. 2016), the HLS spelling of
// the engine of fpga_flow/hw/skipping.py (the Verilog one is ff_skip_mac.v).
//
// Rows are dealt to lanes exactly as for the lock-step engines (row r in slot row_slot[r] of lane
// row_lane[r]), but each lane stores its nonzero weights *column by column*: entry t of lane l is
// field[l][t] (the weight word, or for a codebook layer its code into the codebook) and
// eslot[l][t] (the accumulator slot of its row). Lane l's entries of input column j are
// cstart[l][j] .. cstart[l][j] + ccount[l][j] - 1 (ccount 0: the lane has no weight there).
//
//  * SkipLoad: the n_in inputs are read from the stream (their words, the raw mantissas).
//  * SkipScan: one step per input column j; a zero activation is skipped (no walk at all).
//  * SkipWalk: for a nonzero x[j], every lane walks its entries of column j, one per cycle
//    (pipelined II=1, the lanes in parallel, a lane with fewer entries idles), and adds
//    w * x << shift_p into acc[lane][slot]: exact integer arithmetic in the plan's accumulator
//    (mac_words, as fpga_flow_csr.h). One column holds at most one weight per row, so the slots of
//    one walk are distinct (no dependence between its iterations).
//  * emit_rows: row r's result is acc[row_lane[r]][row_slot[r]] plus the bias << shift_b, then the
//    activation and ONE cast to the output type (finish_row), in row order.
// Integer sums are exact, so the order of the columns never changes a bit: the outputs equal the
// lock-step kernels' (and the bit-exact reference) for every input.
//
// CONFIG_T: n_in, n_out, lanes, lane_len (entries of the longest lane, at least 1), slots,
//           max_count (most entries of one lane in one column, at least 1), relu, shift_p, shift_b;
//           weight_t, bias_t, acc_t (overflow-free), lane_t, slot_t, ptr_t, cnt_t;
//           skip_codebook_layer also n_codes, code_t and static void codebook(weight_t[]).
#ifndef FPGA_FLOW_SKIP_H_
#define FPGA_FLOW_SKIP_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

// What an entry's field is: the weight word itself (CODED false), or a code into the codebook.
template <class CONFIG_T, bool CODED> struct skip_field;
template <class CONFIG_T> struct skip_field<CONFIG_T, false> {
    typedef typename CONFIG_T::weight_t elem_t;
    typedef typename word_of<typename CONFIG_T::weight_t>::type weight_word;
    static const unsigned n_book = 1;
    static void book(weight_word cb[n_book]) {
#pragma HLS INLINE
        cb[0] = 0;
    }
    static weight_word weight(const typename rom<elem_t>::type &f, const weight_word cb[n_book]) {
#pragma HLS INLINE
        (void)cb;
        return f;
    }
};
template <class CONFIG_T> struct skip_field<CONFIG_T, true> {
    typedef typename CONFIG_T::code_t elem_t;
    typedef typename word_of<typename CONFIG_T::weight_t>::type weight_word;
    static const unsigned n_book = CONFIG_T::n_codes;
    static void book(weight_word cb[n_book]) {
#pragma HLS INLINE
        codebook_words<CONFIG_T>(cb);
    }
    static weight_word weight(const typename rom<elem_t>::type &f, const weight_word cb[n_book]) {
#pragma HLS INLINE
        return cb[f];
    }
};

// The engine (see the file comment); skip_layer / skip_codebook_layer below instantiate it.
template <class x_T, class y_T, class CONFIG_T, bool CODED>
void skip_engine(hls::stream<x_T> &in, hls::stream<y_T> &out,
                 const typename rom<typename skip_field<CONFIG_T, CODED>::elem_t>::type field[CONFIG_T::lanes][CONFIG_T::lane_len],
                 const typename rom<typename CONFIG_T::slot_t>::type eslot[CONFIG_T::lanes][CONFIG_T::lane_len],
                 const typename rom<typename CONFIG_T::ptr_t>::type cstart[CONFIG_T::lanes][CONFIG_T::n_in],
                 const typename rom<typename CONFIG_T::cnt_t>::type ccount[CONFIG_T::lanes][CONFIG_T::n_in],
                 const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
                 const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
                 const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE
    typedef skip_field<CONFIG_T, CODED> F;
    typedef mac_words<CONFIG_T> M;
    typedef typename M::acc acc_t;
    typedef typename word_of<x_T>::type x_word;

    typename F::weight_word cb[F::n_book];
#pragma HLS ARRAY_PARTITION variable=cb complete
    F::book(cb);

    x_word x[CONFIG_T::n_in];
SkipLoad:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS PIPELINE II=1
        x[i] = word_of<x_T>::get(in.read());
    }

    acc_t acc[CONFIG_T::lanes][CONFIG_T::slots];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=1
SkipClear:
    for (unsigned s = 0; s < CONFIG_T::slots; s++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            acc[l][s] = 0;
        }
    }

SkipScan:
    for (unsigned j = 0; j < CONFIG_T::n_in; j++) {
        const x_word v = x[j];
        if (v == 0) {
            continue;  // a zero activation: no lane walks its column
        }
        unsigned base[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=base complete
        unsigned cnt[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=cnt complete
        unsigned most = 0;
SkipPointers:
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            base[l] = cstart[l][j];
            cnt[l] = ccount[l][j];
            if (cnt[l] > most) {
                most = cnt[l];
            }
        }
SkipWalk:
        for (unsigned k = 0; k < CONFIG_T::max_count; k++) {
#pragma HLS PIPELINE II=1
#pragma HLS DEPENDENCE variable=acc inter false
            if (k >= most) {
                break;
            }
            for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
                if (k < cnt[l]) {
                    const unsigned t = base[l] + k;
                    const typename CONFIG_T::slot_t s = from_rom<typename CONFIG_T::slot_t>(eslot[l][t]);
                    acc[l][s] += M::product(F::weight(field[l][t], cb), v);
                }
            }
        }
    }
    emit_rows<y_T, CONFIG_T>(out, acc, row_lane, row_slot, bias);
}

// Activation-skipping layer whose entries hold the weight words (dense or CSR weight storage).
template <class x_T, class y_T, class CONFIG_T>
void skip_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                const typename rom<typename CONFIG_T::weight_t>::type w[CONFIG_T::lanes][CONFIG_T::lane_len],
                const typename rom<typename CONFIG_T::slot_t>::type eslot[CONFIG_T::lanes][CONFIG_T::lane_len],
                const typename rom<typename CONFIG_T::ptr_t>::type cstart[CONFIG_T::lanes][CONFIG_T::n_in],
                const typename rom<typename CONFIG_T::cnt_t>::type ccount[CONFIG_T::lanes][CONFIG_T::n_in],
                const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
                const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
                const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
#pragma HLS ARRAY_PARTITION variable=eslot complete dim=1
#pragma HLS ARRAY_PARTITION variable=cstart complete dim=1
#pragma HLS ARRAY_PARTITION variable=ccount complete dim=1
    skip_engine<x_T, y_T, CONFIG_T, false>(in, out, w, eslot, cstart, ccount, row_lane, row_slot, bias);
}

// Activation-skipping layer whose entries hold codes into the codebook (kept in registers).
template <class x_T, class y_T, class CONFIG_T>
void skip_codebook_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                         const typename rom<typename CONFIG_T::code_t>::type code[CONFIG_T::lanes][CONFIG_T::lane_len],
                         const typename rom<typename CONFIG_T::slot_t>::type eslot[CONFIG_T::lanes][CONFIG_T::lane_len],
                         const typename rom<typename CONFIG_T::ptr_t>::type cstart[CONFIG_T::lanes][CONFIG_T::n_in],
                         const typename rom<typename CONFIG_T::cnt_t>::type ccount[CONFIG_T::lanes][CONFIG_T::n_in],
                         const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
                         const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
                         const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=code complete dim=1
#pragma HLS ARRAY_PARTITION variable=eslot complete dim=1
#pragma HLS ARRAY_PARTITION variable=cstart complete dim=1
#pragma HLS ARRAY_PARTITION variable=ccount complete dim=1
    skip_engine<x_T, y_T, CONFIG_T, true>(in, out, code, eslot, cstart, ccount, row_lane, row_slot, bias);
}

}  // namespace fpga_flow

#endif
