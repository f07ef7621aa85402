// fpga-flow HLS library: common includes, ROM and arithmetic words, and the requantize + activation
// step. The MAC kernels (dense, CSR, codebook, window) compute on words: the raw two's-complement
// mantissas, so a multiply-accumulate is integer arithmetic (plain C integers in a C simulation,
// ap_int/ap_uint of the same widths in synthesis); only a row's result is read back as acc_t and
// cast once to the output type.
//
// Portable C++98 (Vivado HLS 2019.2-2020.2 csim uses an old g++) and synthesizable by Vivado HLS and
// Vitis HLS: no dynamic memory, no recursion, static loop bounds.
#ifndef FPGA_FLOW_COMMON_H_
#define FPGA_FLOW_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"

namespace fpga_flow {

// ROM words. Every constant table (weights, biases, code and column indices, ...) holds the raw
// bits of its elements: the two's-complement mantissa of a fixed-point value, or the unsigned
// integer itself; rom<T>::type is the word of element type T and from_rom<T>() reads it back.
// * Synthesis: ap_int<W> / ap_uint<W>, so each ROM is exactly as wide as its data and
//   from_rom is only wires.
// * C simulation: the narrowest plain C integer holding W bits. An array of ap_ objects is
//   initialized by one constructor call per element, which costs g++ seconds per 10,000
//   entries; plain integers are static data that g++ compiles in milliseconds.
// Defining FPGA_FLOW_AP_ROMS compiles the synthesis words and reader in a C simulation too (the
// test suite runs csim both ways).
#if defined(__SYNTHESIS__) || defined(FPGA_FLOW_AP_ROMS)
#define FPGA_FLOW_AP_ROM_WORDS 1
#endif
template <bool S, int BYTES> struct native_word;
template <> struct native_word<true, 1> { typedef signed char type; };
template <> struct native_word<true, 2> { typedef short type; };
template <> struct native_word<true, 4> { typedef int type; };
template <> struct native_word<true, 8> { typedef long long type; };
template <> struct native_word<false, 1> { typedef unsigned char type; };
template <> struct native_word<false, 2> { typedef unsigned short type; };
template <> struct native_word<false, 4> { typedef unsigned int type; };
template <> struct native_word<false, 8> { typedef unsigned long long type; };

template <int W, bool S> struct rom_word {
#ifdef FPGA_FLOW_AP_ROM_WORDS
    typedef ap_int<W> type;
#else
    typedef typename native_word<S, (W <= 8 ? 1 : W <= 16 ? 2 : W <= 32 ? 4 : 8)>::type type;
#endif
};
#ifdef FPGA_FLOW_AP_ROM_WORDS
template <int W> struct rom_word<W, false> { typedef ap_uint<W> type; };
#endif

template <class T> struct rom;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct rom<ap_fixed<W, I, Q, O, N> > {
    typedef typename rom_word<W, true>::type type;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct rom<ap_ufixed<W, I, Q, O, N> > {
    typedef typename rom_word<W, false>::type type;
};
template <int W> struct rom<ap_int<W> > { typedef typename rom_word<W, true>::type type; };
template <int W> struct rom<ap_uint<W> > { typedef typename rom_word<W, false>::type type; };

// from_rom<T>(word): the element of type T whose raw bits are in the ROM word.
template <class T>
struct rom_reader {  // ap_int / ap_uint: the word is the integer itself
    template <class R>
    static T get(const R &word) {
        return T(word);
    }
};
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
struct fixed_rom_reader {
    typedef ap_fixed_base<W, I, S, Q, O, N> base_t;
    template <class R>
    static base_t get(const R &word) {
        base_t v;
#ifdef FPGA_FLOW_AP_ROM_WORDS
        v.range(W - 1, 0) = word;
#else
        v.setBits((ap_ulong)word);  // the word's two's-complement bits (csim: much faster than range())
#endif
        return v;
    }
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct rom_reader<ap_fixed<W, I, Q, O, N> > : fixed_rom_reader<W, I, true, Q, O, N> {};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct rom_reader<ap_ufixed<W, I, Q, O, N> > : fixed_rom_reader<W, I, false, Q, O, N> {};

template <class T, class R>
inline T from_rom(const R &word) {
#pragma HLS INLINE
    return T(rom_reader<T>::get(word));
}

// Raw words of a fixed-point type T (its two's-complement mantissa): word_of<T>::type is the word
// (rom<T>::type: plain C integers in a C simulation, ap_int/ap_uint<W> in synthesis and with
// FPGA_FLOW_AP_ROMS), word_of<T>::get(v) the word of a value, lowest() the word of the smallest
// value; from_rom<T>(word) reads a word back (above).
template <class T> struct word_of;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct word_of<ap_fixed<W, I, Q, O, N> > {
    typedef typename rom<ap_fixed<W, I, Q, O, N> >::type type;
    static type get(const ap_fixed<W, I, Q, O, N> &v) {
#pragma HLS INLINE
        ap_int<W> bits = v.range(W - 1, 0);
        return type(bits);
    }
    static type lowest() {
#pragma HLS INLINE
        ap_int<W> bits = 0;
        bits[W - 1] = 1;  // -2^(W-1)
        return type(bits);
    }
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct word_of<ap_ufixed<W, I, Q, O, N> > {
    typedef typename rom<ap_ufixed<W, I, Q, O, N> >::type type;
    static type get(const ap_ufixed<W, I, Q, O, N> &v) {
#pragma HLS INLINE
        ap_uint<W> bits = v.range(W - 1, 0);
        return type(bits);
    }
    static type lowest() {
#pragma HLS INLINE
        return type(0);
    }
};

// The accumulator word of acc_T (W <= 64 bits): a plain int / long long in a C simulation, ap_int<W>
// in synthesis and with FPGA_FLOW_AP_ROMS. The sums never overflow it (the plan's exact accumulator).
template <class acc_T> struct acc_word {
#ifdef FPGA_FLOW_AP_ROM_WORDS
    typedef ap_int<acc_T::width> type;
#else
    typedef typename native_word<true, (acc_T::width <= 32 ? 4 : 8)>::type type;
#endif
};

// w * x exactly, as an accumulator word.
template <class A, class W, class X>
inline A mul_word(const W &w, const X &x) {
#pragma HLS INLINE
#ifdef FPGA_FLOW_AP_ROM_WORDS
    return A(w * x);  // the exact ap_int product, widened
#else
    return A(w) * A(x);
#endif
}

// Activation on the exact accumulator, then ONE cast to the output type y_T, with y_T's
// rounding (ap_q_mode) and overflow (ap_o_mode) modes -- exactly DenseLayer.reference.
template <class y_T, bool RELU, class acc_T>
y_T requantize(const acc_T &acc) {
#pragma HLS INLINE
    acc_T a = acc;
    if (RELU && acc < 0) {
        a = 0;
    }
    y_T y = a;
    return y;
}

// Reads n_in elements from the stream into LANES identical banks of their words (word_of<x_T>: the
// raw mantissas), one read port per lane.
template <class x_T, unsigned LANES, unsigned N_IN>
void load_banks(hls::stream<x_T> &in, typename word_of<x_T>::type xb[LANES][N_IN]) {
#pragma HLS INLINE
LoadLoop:
    for (unsigned i = 0; i < N_IN; i++) {
#pragma HLS PIPELINE II=1
        typename word_of<x_T>::type v = word_of<x_T>::get(in.read());
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            xb[l][i] = v;
        }
    }
}

// The MLP kernels' accumulator word (acc_word<CONFIG_T::acc_t>) and the weight word aligned to it:
// w * x << shift_p, exact (the plan's accumulator holds every product and partial sum).
template <class CONFIG_T>
struct mac_words {
    typedef typename acc_word<typename CONFIG_T::acc_t>::type acc;
    template <class W, class X>
    static acc product(const W &w, const X &x) {
#pragma HLS INLINE
        return mul_word<acc>(w, x) << CONFIG_T::shift_p;
    }
};

// The codebook's entries (CONFIG_T::codebook, constants) as weight words, in registers.
template <class CONFIG_T>
void codebook_words(typename word_of<typename CONFIG_T::weight_t>::type cb[CONFIG_T::n_codes]) {
#pragma HLS INLINE
    typename CONFIG_T::weight_t cbv[CONFIG_T::n_codes];
    CONFIG_T::codebook(cbv);
CodebookWords:
    for (unsigned c = 0; c < CONFIG_T::n_codes; c++) {
#pragma HLS UNROLL
        cb[c] = word_of<typename CONFIG_T::weight_t>::get(cbv[c]);
    }
}

// Row j's result: its accumulator word a (bias-free) plus bias word b aligned by shift_b, read as
// acc_t; activation and ONE cast to y_T with its rounding and overflow modes (requantize()).
template <class y_T, class CONFIG_T, class A, class B>
y_T finish_row(const A &a, const B &b) {
#pragma HLS INLINE
    A s = a + (A(b) << CONFIG_T::shift_b);
    return requantize<y_T, CONFIG_T::relu>(from_rom<typename CONFIG_T::acc_t>(s));
}

// Row r's result: the sum word in slot row_slot[r] of lane row_lane[r] (a row without nonzeros has
// one zero-weight entry, so its slot holds 0) plus the bias (finish_row).
template <class y_T, class CONFIG_T>
void emit_rows(hls::stream<y_T> &out,
               const typename mac_words<CONFIG_T>::acc part[CONFIG_T::lanes][CONFIG_T::slots],
               const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
               const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
               const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE
OutLoop:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS PIPELINE II=1
        typename CONFIG_T::slot_t s = from_rom<typename CONFIG_T::slot_t>(row_slot[j]);
        out.write(finish_row<y_T, CONFIG_T>(part[from_rom<typename CONFIG_T::lane_t>(row_lane[j])][s], bias[j]));
    }
}

}  // namespace fpga_flow

#endif
