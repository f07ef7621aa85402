// fpga-flow HLS library: the window engine on a (C, H, W) feature map -- convolution, per-channel
// scale (op "mac"), average pooling, ReLU and requantization of a map (op "sum"), max pooling ("max").
//
// The stream carries the map in ONNX NCHW order, in and out. Each kernel
//  1. loads the input map into one copy per lane (one read port each), padded to ph x pw per
//     channel with 0 (op max: the smallest x_T value, which never wins), so a tap needs no bounds
//     check: window_load, in_c * ph * pw cycles;
//  2. decodes each lane entry's tap col = (ci * kh + ky) * kw + kx (ci absolute) into its offset
//     (ci * ph + ky) * pw + kx in the padded map: window_taps, lane_len cycles;
//  3. walks ONE flattened loop over the output pixels (raster order) x the lane_len entries of a
//     pixel, pipelined II=1, every lane one entry per cycle: lane l reads xb[l][base + offset]
//     (base: the pixel's window) and combines it with its row's running value (mac: + w * x, the
//     weight from the ROM or the codebook; sum: + x; max: the maximum). At a row end (last = 1)
//     the value goes to part[l][wp[l]++]: every lane walks exactly `slots` rows per pixel (dummy
//     rows at the end of its list), so row slot s of pixel p lands at p * slots + s; entries after
//     a lane's final row are padding (last = 0, weight 0) and every pixel restarts from the
//     initial value, so they never reach a result;
//  4. emits output channel co of every pixel (NCHW order) from lane row_lane[co], address
//     pixel * slots + row_slot[co] (mac: plus the bias, aligned exactly), then the activation and
//     ONE cast to y_T with its rounding and overflow modes (requantize()): window_emit*,
//     out_c * pixels cycles.
//
// Arithmetic on words: the map, the weights and the sums are the raw two's-complement mantissas
// (word_of<T>, acc_word, mul_word in fpga_flow_common.h: plain C integers in a C simulation,
// ap_int/ap_uint in synthesis and with FPGA_FLOW_AP_ROMS), so a MAC is one integer multiply-add; a
// product is aligned to the exact accumulator by shift_p, the bias by shift_b, and the sum is read
// back as acc_t (from_rom). For op sum, acc_t has k more fractional bits than x: the division by 2^k is free.
//
// Kernels (the plan's op and weight storage):
//  * window_mac_layer      w[l][t] weight mantissas (CSR taps: a convolution, or a per-channel scale
//                          as a 1x1 convolution with one tap per channel), bias;
//  * window_codebook_layer code[l][t] into the n_codes codebook (registers, CONFIG_T::codebook), bias;
//  * window_sum_layer      the sum of the taps (every weight 2^-k);
//  * window_max_layer      the running maximum, in x_T's words;
//  * window_merge_layer    a residual add or a concatenation: the sum of the taps over 2-4 input maps
//                          loaded one after the other (src_c<s> channels each).
// stream_fork copies a map read by several kernels to one stream per reader.
//
// CONFIG_T: in_c, in_h, in_w, out_c, out_h, out_w, pixels, kh, kw, sh, sw, pad_t, pad_l, ph, pw,
//           lanes, lane_len (entries per pixel), slots, relu; col_t, lane_t, slot_t;
//           mac: shift_p, shift_b, weight_t, bias_t, acc_t (exact, at most 64 bits);
//           codebook: also n_codes, code_t, static void codebook(weight_t[]); sum: acc_t.
#ifndef FPGA_FLOW_WINDOW_H_
#define FPGA_FLOW_WINDOW_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

// Sizes of the kernels' arrays and loops.
template <class CONFIG_T> struct window_dims {
    static const unsigned map = CONFIG_T::in_c * CONFIG_T::ph * CONFIG_T::pw;  // words of a padded map
    static const unsigned results = CONFIG_T::pixels * CONFIG_T::slots;       // results per lane
    static const unsigned walk = CONFIG_T::pixels * CONFIG_T::lane_len;       // iterations of the walk
    static const unsigned emit = CONFIG_T::out_c * CONFIG_T::pixels;          // output elements
};

// Step 1 of a merge: the NCHW map on `in` (CHANNELS channels) into channels FIRST ..
// FIRST + CHANNELS - 1 of the `lanes` identical padded maps of words (one read port per lane).
template <class x_T, class CONFIG_T, unsigned FIRST, unsigned CHANNELS>
void window_load_part(hls::stream<x_T> &in,
                      typename word_of<x_T>::type xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map],
                      const typename word_of<x_T>::type pad) {
#pragma HLS INLINE
    typedef typename word_of<x_T>::type x_word;
    const unsigned first = FIRST * CONFIG_T::ph * CONFIG_T::pw;
    unsigned y = 0, x = 0;
WindowLoad:
    for (unsigned i = 0; i < CHANNELS * CONFIG_T::ph * CONFIG_T::pw; i++) {
#pragma HLS PIPELINE II=1
        bool inside = y >= CONFIG_T::pad_t && y < CONFIG_T::pad_t + CONFIG_T::in_h && x >= CONFIG_T::pad_l &&
                      x < CONFIG_T::pad_l + CONFIG_T::in_w;
        x_word v = pad;
        if (inside) {
            v = word_of<x_T>::get(in.read());
        }
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            xb[l][first + i] = v;
        }
        if (x == CONFIG_T::pw - 1) {
            x = 0;
            y = (y == CONFIG_T::ph - 1) ? 0 : y + 1;
        } else {
            x++;
        }
    }
}

// Step 1: the NCHW stream into `lanes` identical padded maps of words (one read port per lane).
template <class x_T, class CONFIG_T>
void window_load(hls::stream<x_T> &in, typename word_of<x_T>::type xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map],
                 const typename word_of<x_T>::type pad) {
#pragma HLS INLINE
    window_load_part<x_T, CONFIG_T, 0, CONFIG_T::in_c>(in, xb, pad);
}

// Step 2: each lane entry's tap -> its offset in the padded map, relative to the pixel's window.
template <class CONFIG_T>
void window_taps(const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                 unsigned toff[CONFIG_T::lanes][CONFIG_T::lane_len]) {
#pragma HLS INLINE
    const unsigned kk = CONFIG_T::kh * CONFIG_T::kw;
WindowTaps:
    for (unsigned t = 0; t < CONFIG_T::lane_len; t++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            unsigned c = from_rom<typename CONFIG_T::col_t>(col[l][t]);
            unsigned ci = c / kk;
            unsigned r = c - ci * kk;
            unsigned ky = r / CONFIG_T::kw;
            unsigned kx = r - ky * CONFIG_T::kw;
            toff[l][t] = (ci * CONFIG_T::ph + ky) * CONFIG_T::pw + kx;
        }
    }
}

// The walk's counters: entry t of the pixel whose window starts at `base` in the padded map.
template <class CONFIG_T>
struct window_walker {
    unsigned t, ox, base, row_base;
    window_walker() : t(0), ox(0), base(0), row_base(0) {}
    bool end() const { return t == CONFIG_T::lane_len - 1; }  // the pixel's last entry
    void next() {
#pragma HLS INLINE
        if (t != CONFIG_T::lane_len - 1) {
            t++;
        } else if (ox != CONFIG_T::out_w - 1) {
            t = 0;
            ox++;
            base += CONFIG_T::sw;
        } else {
            t = 0;
            ox = 0;
            row_base += CONFIG_T::sh * CONFIG_T::pw;
            base = row_base;
        }
    }
};

// Step 4 of the MAC kernels: output channel co of every pixel from lane row_lane[co], slot
// row_slot[co], plus the bias word aligned by shift_b, read as acc_t; activation, ONE cast to y_T.
template <class y_T, class A, class CONFIG_T>
void window_emit_bias(hls::stream<y_T> &out, const A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results],
                      const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::out_c]) {
#pragma HLS INLINE
    unsigned co = 0, pix = 0, addr = from_rom<typename CONFIG_T::slot_t>(row_slot[0]);
WindowOut:
    for (unsigned i = 0; i < window_dims<CONFIG_T>::emit; i++) {
#pragma HLS PIPELINE II=1
        A a = part[from_rom<typename CONFIG_T::lane_t>(row_lane[co])][addr] + (A(bias[co]) << CONFIG_T::shift_b);
        out.write(requantize<y_T, CONFIG_T::relu>(from_rom<typename CONFIG_T::acc_t>(a)));
        if (pix == CONFIG_T::pixels - 1) {
            pix = 0;
            co = (co == CONFIG_T::out_c - 1) ? 0 : co + 1;
            addr = from_rom<typename CONFIG_T::slot_t>(row_slot[co]);
        } else {
            pix++;
            addr += CONFIG_T::slots;
        }
    }
}

// Step 4 of the weightless kernels: the result word read as acc_T, activation, ONE cast to y_T.
template <class y_T, class acc_T, class P, class CONFIG_T>
void window_emit(hls::stream<y_T> &out, const P part[CONFIG_T::lanes][window_dims<CONFIG_T>::results],
                 const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                 const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE
    unsigned co = 0, pix = 0, addr = from_rom<typename CONFIG_T::slot_t>(row_slot[0]);
WindowOut:
    for (unsigned i = 0; i < window_dims<CONFIG_T>::emit; i++) {
#pragma HLS PIPELINE II=1
        P a = part[from_rom<typename CONFIG_T::lane_t>(row_lane[co])][addr];
        out.write(requantize<y_T, CONFIG_T::relu>(from_rom<acc_T>(a)));
        if (pix == CONFIG_T::pixels - 1) {
            pix = 0;
            co = (co == CONFIG_T::out_c - 1) ? 0 : co + 1;
            addr = from_rom<typename CONFIG_T::slot_t>(row_slot[co]);
        } else {
            pix++;
            addr += CONFIG_T::slots;
        }
    }
}

// Where a MAC kernel's weight word comes from: the ROM itself (window_mac_layer), or the codebook
// entry the ROM's code selects (window_codebook_layer).
template <class W, class CONFIG_T>
struct window_rom_weights {
    const W (*w)[CONFIG_T::lane_len];
    W get(unsigned l, unsigned t) const {
#pragma HLS INLINE
        return w[l][t];
    }
};
template <class C, class CW, class CONFIG_T>
struct window_code_weights {
    const C (*code)[CONFIG_T::lane_len];
    const CW *cb;
    CW get(unsigned l, unsigned t) const {
#pragma HLS INLINE
        return cb[from_rom<typename CONFIG_T::code_t>(code[l][t])];
    }
};

// Step 3 of the MAC kernels: per lane bias-free sum(w * x) of each row, into part (window_emit_bias
// adds the bias). The map is loaded and the taps decoded first.
template <class x_T, class A, class WSRC, class CONFIG_T>
void window_mac_walk(const typename word_of<x_T>::type xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map],
                     const unsigned toff[CONFIG_T::lanes][CONFIG_T::lane_len],
                     const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len], const WSRC &wsrc,
                     A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results]) {
#pragma HLS INLINE
    typedef window_dims<CONFIG_T> dims;
    A sum[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=sum complete
    unsigned wp[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=wp complete
WindowInit:
    for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
        sum[l] = 0;
        wp[l] = 0;
    }
    window_walker<CONFIG_T> k;
WindowMac:
    for (unsigned i = 0; i < dims::walk; i++) {
#pragma HLS PIPELINE II=1
        const unsigned t = k.t;
        const bool end = k.end();
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            A s = sum[l] + (mul_word<A>(wsrc.get(l, t), xb[l][k.base + toff[l][t]]) << CONFIG_T::shift_p);
            bool row_end = last[l][t];
            if (row_end) {
                part[l][wp[l]] = s;
                wp[l]++;
            }
            sum[l] = (row_end || end) ? A(0) : s;
        }
        k.next();
    }
}

// Convolution / per-channel scale: bias + sum(w * x) per output channel, weight words from the ROM.
template <class x_T, class y_T, class CONFIG_T>
void window_mac_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                      const typename rom<typename CONFIG_T::weight_t>::type w[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    typedef window_dims<CONFIG_T> dims;
    typedef typename rom<typename CONFIG_T::weight_t>::type W;

    static typename word_of<x_T>::type xb[CONFIG_T::lanes][dims::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load<x_T, CONFIG_T>(in, xb, 0);
    unsigned toff[CONFIG_T::lanes][CONFIG_T::lane_len];
#pragma HLS ARRAY_PARTITION variable=toff complete dim=1
    window_taps<CONFIG_T>(col, toff);
    static A part[CONFIG_T::lanes][dims::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_rom_weights<W, CONFIG_T> wsrc = {w};
    window_mac_walk<x_T, A, window_rom_weights<W, CONFIG_T>, CONFIG_T>(xb, toff, last, wsrc, part);
    window_emit_bias<y_T, A, CONFIG_T>(out, part, row_lane, row_slot, bias);
}

// Convolution with shared weights: each entry's code selects its weight in the codebook (registers).
template <class x_T, class y_T, class CONFIG_T>
void window_codebook_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                           const typename rom<typename CONFIG_T::code_t>::type code[CONFIG_T::lanes][CONFIG_T::lane_len],
                           const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                           const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                           const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                           const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c],
                           const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=code complete dim=1
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    typedef window_dims<CONFIG_T> dims;
    typedef typename rom<typename CONFIG_T::code_t>::type C;
    typedef typename word_of<weight_t>::type CW;

    weight_t cbv[CONFIG_T::n_codes];
    CONFIG_T::codebook(cbv);
    CW cb[CONFIG_T::n_codes];
#pragma HLS ARRAY_PARTITION variable=cb complete
WindowCodebook:
    for (unsigned c = 0; c < CONFIG_T::n_codes; c++) {
#pragma HLS UNROLL
        cb[c] = word_of<weight_t>::get(cbv[c]);
    }

    static typename word_of<x_T>::type xb[CONFIG_T::lanes][dims::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load<x_T, CONFIG_T>(in, xb, 0);
    unsigned toff[CONFIG_T::lanes][CONFIG_T::lane_len];
#pragma HLS ARRAY_PARTITION variable=toff complete dim=1
    window_taps<CONFIG_T>(col, toff);
    static A part[CONFIG_T::lanes][dims::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_code_weights<C, CW, CONFIG_T> wsrc = {code, cb};
    window_mac_walk<x_T, A, window_code_weights<C, CW, CONFIG_T>, CONFIG_T>(xb, toff, last, wsrc, part);
    window_emit_bias<y_T, A, CONFIG_T>(out, part, row_lane, row_slot, bias);
}

// Step 3 of the weightless kernels: MAX a running maximum of the words (a row starts from the
// smallest value, the padding too), else the exact sum of the words in P (from 0, padding 0).
// The walk over a loaded map xb (window_reduce_map); window_reduce loads it from one stream first.
template <class x_T, class P, bool MAX, class CONFIG_T>
void window_reduce_map(const typename word_of<x_T>::type xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map],
                       const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                       const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                       P part[CONFIG_T::lanes][window_dims<CONFIG_T>::results]) {
#pragma HLS INLINE
    typedef typename word_of<x_T>::type X;
    typedef window_dims<CONFIG_T> dims;
    const X pad = MAX ? word_of<x_T>::lowest() : X(0);
    const P init = MAX ? P(pad) : P(0);

    unsigned toff[CONFIG_T::lanes][CONFIG_T::lane_len];
#pragma HLS ARRAY_PARTITION variable=toff complete dim=1
    window_taps<CONFIG_T>(col, toff);

    P acc[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned wp[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=wp complete
WindowInit:
    for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
        acc[l] = init;
        wp[l] = 0;
    }
    window_walker<CONFIG_T> k;
WindowReduce:
    for (unsigned i = 0; i < dims::walk; i++) {
#pragma HLS PIPELINE II=1
        const unsigned t = k.t;
        const bool end = k.end();
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            P v = xb[l][k.base + toff[l][t]];
            P s = MAX ? (v > acc[l] ? v : acc[l]) : P(acc[l] + v);
            bool row_end = last[l][t];
            if (row_end) {
                part[l][wp[l]] = s;
                wp[l]++;
            }
            acc[l] = (row_end || end) ? init : s;
        }
        k.next();
    }
}

template <class x_T, class P, bool MAX, class CONFIG_T>
void window_reduce(hls::stream<x_T> &in,
                   const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                   const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                   P part[CONFIG_T::lanes][window_dims<CONFIG_T>::results]) {
#pragma HLS INLINE
    typedef typename word_of<x_T>::type X;
    const X pad = MAX ? word_of<x_T>::lowest() : X(0);
    static X xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load<x_T, CONFIG_T>(in, xb, pad);
    window_reduce_map<x_T, P, MAX, CONFIG_T>(xb, col, last, part);
}

// Average pooling (the sum read as acc_t: / 2^k by its binary point), ReLU or requantization of a map.
template <class x_T, class y_T, class CONFIG_T>
void window_sum_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                      const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    static A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_reduce<x_T, A, false, CONFIG_T>(in, col, last, part);
    window_emit<y_T, typename CONFIG_T::acc_t, A, CONFIG_T>(out, part, row_lane, row_slot);
}

// Max pooling: the running maximum (padding never wins), cast to y_T.
template <class x_T, class y_T, class CONFIG_T>
void window_max_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                      const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                      const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                      const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename word_of<x_T>::type X;
    static X part[CONFIG_T::lanes][window_dims<CONFIG_T>::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_reduce<x_T, X, true, CONFIG_T>(in, col, last, part);
    window_emit<y_T, x_T, X, CONFIG_T>(out, part, row_lane, row_slot);
}

// A residual add or a concatenation of 2, 3 or 4 maps of one element type x_T (op "sum", 1x1 taps):
// input s (src_c<s> channels, NCHW order on in<s>) loads into channels src_c0 + ... + src_c<s-1>
// onwards of the lanes' maps, one input after the other; then the walk and the emit of
// window_sum_layer (an add row sums channel c of every input, a concatenation row takes one tap).
// CONFIG_T: as window_sum_layer, plus src_c0, src_c1 (, src_c2, src_c3): the channels of each input.
template <class x_T, class y_T, class CONFIG_T>
void window_merge_layer(hls::stream<x_T> &in0, hls::stream<x_T> &in1, hls::stream<y_T> &out,
                        const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                        const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename word_of<x_T>::type X;
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    static X xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load_part<x_T, CONFIG_T, 0, CONFIG_T::src_c0>(in0, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0, CONFIG_T::src_c1>(in1, xb, X(0));
    static A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_reduce_map<x_T, A, false, CONFIG_T>(xb, col, last, part);
    window_emit<y_T, typename CONFIG_T::acc_t, A, CONFIG_T>(out, part, row_lane, row_slot);
}

template <class x_T, class y_T, class CONFIG_T>
void window_merge_layer(hls::stream<x_T> &in0, hls::stream<x_T> &in1, hls::stream<x_T> &in2,
                        hls::stream<y_T> &out,
                        const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                        const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename word_of<x_T>::type X;
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    static X xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load_part<x_T, CONFIG_T, 0, CONFIG_T::src_c0>(in0, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0, CONFIG_T::src_c1>(in1, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0 + CONFIG_T::src_c1, CONFIG_T::src_c2>(in2, xb, X(0));
    static A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_reduce_map<x_T, A, false, CONFIG_T>(xb, col, last, part);
    window_emit<y_T, typename CONFIG_T::acc_t, A, CONFIG_T>(out, part, row_lane, row_slot);
}

template <class x_T, class y_T, class CONFIG_T>
void window_merge_layer(hls::stream<x_T> &in0, hls::stream<x_T> &in1, hls::stream<x_T> &in2,
                        hls::stream<x_T> &in3, hls::stream<y_T> &out,
                        const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                        const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::out_c],
                        const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::out_c]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef typename word_of<x_T>::type X;
    typedef typename acc_word<typename CONFIG_T::acc_t>::type A;
    static X xb[CONFIG_T::lanes][window_dims<CONFIG_T>::map];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    window_load_part<x_T, CONFIG_T, 0, CONFIG_T::src_c0>(in0, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0, CONFIG_T::src_c1>(in1, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0 + CONFIG_T::src_c1, CONFIG_T::src_c2>(in2, xb, X(0));
    window_load_part<x_T, CONFIG_T, CONFIG_T::src_c0 + CONFIG_T::src_c1 + CONFIG_T::src_c2, CONFIG_T::src_c3>(
        in3, xb, X(0));
    static A part[CONFIG_T::lanes][window_dims<CONFIG_T>::results];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    window_reduce_map<x_T, A, false, CONFIG_T>(xb, col, last, part);
    window_emit<y_T, typename CONFIG_T::acc_t, A, CONFIG_T>(out, part, row_lane, row_slot);
}

// A map read by several kernels: each element of `in` (N per sample) copied to every output, one
// stream per reader (DATAFLOW: every stream has one writer and one reader).
template <class T, unsigned N>
void stream_fork(hls::stream<T> &in, hls::stream<T> &out0, hls::stream<T> &out1) {
#pragma HLS INLINE off
StreamFork:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II=1
        T v = in.read();
        out0.write(v);
        out1.write(v);
    }
}

template <class T, unsigned N>
void stream_fork(hls::stream<T> &in, hls::stream<T> &out0, hls::stream<T> &out1, hls::stream<T> &out2) {
#pragma HLS INLINE off
StreamFork:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II=1
        T v = in.read();
        out0.write(v);
        out1.write(v);
        out2.write(v);
    }
}

template <class T, unsigned N>
void stream_fork(hls::stream<T> &in, hls::stream<T> &out0, hls::stream<T> &out1, hls::stream<T> &out2,
                 hls::stream<T> &out3) {
#pragma HLS INLINE off
StreamFork:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II=1
        T v = in.read();
        out0.write(v);
        out1.write(v);
        out2.write(v);
        out3.write(v);
    }
}

}  // namespace fpga_flow

#endif
