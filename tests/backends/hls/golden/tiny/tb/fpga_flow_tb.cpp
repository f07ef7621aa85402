// fpga-flow generated file: C testbench of fpga_flow_top. Do not edit.
//
// usage: fpga_flow_tb                      stimulus and expected values from tb_data/ (or ../tb_data/)
//        fpga_flow_tb IN OUT [EXPECTED]    run the input mantissas in IN, write the outputs to OUT,
//                                          compare them with EXPECTED when given
// Files hold one sample per line, decimal integer mantissas separated by spaces (fpga_flow/tbdata.py).
// Every mismatch is printed (sample, element, expected, got). Exit status: 0 when every output
// equals the expected one, 1 on any mismatch or stream error, 2 when a file cannot be used.
#include <cstdio>
#include <string>
#include <vector>

#include "../firmware/fpga_flow_top.h"

typedef fpga_flow_io::in_fmt in_fmt;
typedef fpga_flow_io::out_fmt out_fmt;

static bool file_exists(const std::string &path) {
    std::FILE *f = std::fopen(path.c_str(), "r");
    if (!f) {
        return false;
    }
    std::fclose(f);
    return true;
}

// Reads whitespace-separated integers; returns the number of rows of n_cols, or -1.
static long read_mantissas(const std::string &path, unsigned n_cols, std::vector<long long> &out) {
    std::FILE *f = std::fopen(path.c_str(), "r");
    if (!f) {
        std::fprintf(stderr, "fpga_flow_tb: cannot open %s\n", path.c_str());
        return -1;
    }
    long long v = 0;
    int r = 0;
    while ((r = std::fscanf(f, "%lld", &v)) == 1) {
        out.push_back(v);
    }
    std::fclose(f);
    if (r != EOF) {
        std::fprintf(stderr, "fpga_flow_tb: %s: expected decimal integers\n", path.c_str());
        return -1;
    }
    if (out.size() % n_cols != 0) {
        std::fprintf(stderr, "fpga_flow_tb: %s: %lu values is not a multiple of %u per sample\n", path.c_str(),
                     (unsigned long)out.size(), n_cols);
        return -1;
    }
    return (long)(out.size() / n_cols);
}

int main(int argc, char **argv) {
    std::string in_path, out_path, exp_path;
    if (argc == 1) {
        std::string dir = file_exists("tb_data/input_mantissas.txt") ? "tb_data/" : "../tb_data/";
        in_path = dir + "input_mantissas.txt";
        exp_path = dir + "expected_mantissas.txt";
        out_path = "csim_output_mantissas.txt";
    } else if (argc == 3 || argc == 4) {
        in_path = argv[1];
        out_path = argv[2];
        if (argc == 4) {
            exp_path = argv[3];
        }
    } else {
        std::fprintf(stderr, "usage: %s [INPUT OUTPUT [EXPECTED]]\n", argv[0]);
        return 2;
    }

    std::vector<long long> x, e;
    long n = read_mantissas(in_path, in_fmt::n, x);
    if (n < 0) {
        return 2;
    }
    bool compare = !exp_path.empty();
    if (compare) {
        long m = read_mantissas(exp_path, out_fmt::n, e);
        if (m < 0) {
            return 2;
        }
        if (m != n) {
            std::fprintf(stderr, "fpga_flow_tb: %ld input samples but %ld expected\n", n, m);
            return 2;
        }
    }
    std::FILE *fo = std::fopen(out_path.c_str(), "w");
    if (!fo) {
        std::fprintf(stderr, "fpga_flow_tb: cannot write %s\n", out_path.c_str());
        return 2;
    }

    hls::stream<fpga_flow_in_t> in_r("in_r");
    hls::stream<fpga_flow_out_t> out_r("out_r");
    std::vector<long long> y(out_fmt::n);
    long mismatches = 0;
    long errors = 0;
    for (long s = 0; s < n; s++) {
        for (unsigned b = 0; b < in_fmt::beats; b++) {
            fpga_flow_in_t w;
            w.data = 0;
            for (unsigned k = 0; k < in_fmt::per_beat; k++) {
                unsigned i = b * in_fmt::per_beat + k;
                if (i >= in_fmt::n) {
                    break;
                }
                ap_int<64> m = x[s * in_fmt::n + i];
                ap_uint<in_fmt::width> bits = m(in_fmt::width - 1, 0);
                w.data(k * in_fmt::width + in_fmt::width - 1, k * in_fmt::width) = bits;
            }
            w.last = (b == in_fmt::beats - 1) ? 1 : 0;
            fpga_flow::axis_side_channels(w);
            in_r.write(w);
        }

        fpga_flow_top(in_r, out_r);

        for (unsigned i = 0; i < out_fmt::n; i++) {
            y[i] = 0;
        }
        for (unsigned b = 0; b < out_fmt::beats; b++) {
            if (out_r.empty()) {
                std::printf("error: sample %ld: output has %u beats, expected %u\n", s, b, out_fmt::beats);
                errors++;
                break;
            }
            fpga_flow_out_t w = out_r.read();
            bool last = (w.last == 1);
            if (last != (b == out_fmt::beats - 1)) {
                std::printf("error: sample %ld: TLAST=%d on beat %u of %u\n", s, last ? 1 : 0, b, out_fmt::beats);
                errors++;
            }
            for (unsigned k = 0; k < out_fmt::per_beat; k++) {
                unsigned i = b * out_fmt::per_beat + k;
                if (i >= out_fmt::n) {
                    break;
                }
                ap_uint<out_fmt::width> bits = w.data(k * out_fmt::width + out_fmt::width - 1, k * out_fmt::width);
                if (out_fmt::is_signed) {
                    ap_int<out_fmt::width> v = bits;
                    y[i] = v.to_int64();
                } else {
                    y[i] = (long long)bits.to_uint64();
                }
            }
        }
        while (!out_r.empty()) {
            out_r.read();
            std::printf("error: sample %ld: extra output beat\n", s);
            errors++;
        }
        while (!in_r.empty()) {
            in_r.read();
            std::printf("error: sample %ld: input beat not consumed\n", s);
            errors++;
        }

        for (unsigned i = 0; i < out_fmt::n; i++) {
            std::fprintf(fo, i ? " %lld" : "%lld", y[i]);
            if (compare && y[i] != e[s * out_fmt::n + i]) {
                std::printf("mismatch: sample %ld element %u: expected %lld got %lld\n", s, i, e[s * out_fmt::n + i],
                            y[i]);
                mismatches++;
            }
        }
        std::fprintf(fo, "\n");
    }
    std::fclose(fo);

    if (compare) {
        std::printf("fpga_flow_tb: %ld samples, %ld mismatches, %ld stream errors\n", n, mismatches, errors);
    } else {
        std::printf("fpga_flow_tb: %ld samples, %ld stream errors\n", n, errors);
    }
    return (mismatches || errors) ? 1 : 0;
}
