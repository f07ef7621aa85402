// Ground-truth harness for fpga_flow.fixed: runs the real Xilinx ap_fixed headers.
//
// tests/test_fixed_apfixed.py writes "harness_config.h" (X-macro lists: target formats with their
// source types, operand pairs, rounding and overflow modes) and the input files, then compiles this
// one source several times:
//   -DHARNESS_PART=k  (k = index of an overflow mode): every conversion into targets with that mode
//   -DHARNESS_PART=-1 : main() -- reads inputs, runs products/sums, calls the parts, writes output
// and links the objects. The parts compile in parallel.
//
// Inputs (text, in the directory given as argv[1]):
//   dbl_<f>.txt       raw IEEE-754 bits (hex) of the doubles to convert into format f
//   src_<f>_<s>.txt   mantissas (decimal) of format f's source type s, to cast into format f
//   pair_<p>.txt      two mantissas (decimal) per line for operand pair p
// Output (binary int64, argv[1]/out.bin): records
//   [kind, a, b, c, d, e, count] then count mantissas (sign-extended), where
//   kind 0 = double -> target:   a = format, b = signed, c = rounding idx, d = overflow idx, e = -1
//   kind 1 = fixed  -> target:   a = format, b = signed, c = rounding idx, d = overflow idx, e = source
//   kind 2 = product a*b:        a = pair, b = result W, c = result I, d = result signed, e = -1
//   kind 3 = sum a+b:            same as kind 2

#include <ap_fixed.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

typedef std::vector<int64_t> Vec;

extern std::vector<std::vector<uint64_t> > g_dbl;  // [format] raw double bits
extern std::vector<std::vector<Vec> > g_src;       // [format][source] source mantissas

static inline int64_t sext(uint64_t u, int w) {
  if (w < 64) {
    const uint64_t mask = (1ull << w) - 1;
    u &= mask;
    if ((u >> (w - 1)) & 1ull) u |= ~mask;
  }
  return (int64_t)u;
}

static inline int64_t zext(uint64_t u, int w) {
  if (w < 64) u &= (1ull << w) - 1;
  return (int64_t)u;
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline int64_t mant(const ap_fixed<W, I, Q, O, N>& x) {
  return sext(x.bits_to_uint64(), W);
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline int64_t mant(const ap_ufixed<W, I, Q, O, N>& x) {
  return zext(x.bits_to_uint64(), W);
}

template <class T>
struct is_signed_fx;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_signed_fx<ap_fixed<W, I, Q, O, N> > {
  enum { value = 1 };
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_signed_fx<ap_ufixed<W, I, Q, O, N> > {
  enum { value = 0 };
};

static inline void header(Vec& out, int64_t kind, int64_t a, int64_t b, int64_t c, int64_t d, int64_t e,
                          size_t n) {
  out.push_back(kind);
  out.push_back(a);
  out.push_back(b);
  out.push_back(c);
  out.push_back(d);
  out.push_back(e);
  out.push_back((int64_t)n);
}

// A format's source types: srcs<src<0, S0>, src<1, S1>, ...> (index = file suffix).
template <int SI, class S>
struct src {};
template <class... Ss>
struct srcs {
  enum { count = sizeof...(Ss) };
};

#include "harness_config.h"

#if HARNESS_PART >= 0
// ------------------------------------------------------------------------ conversions
template <class T, int SI, class S>
void run_source(Vec& out, int fmt, int qi, int oi, src<SI, S>) {
  const Vec& ms = g_src[fmt][SI];
  header(out, 1, fmt, is_signed_fx<T>::value, qi, oi, SI, ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    S s;
    s.setBits((ap_ulong)ms[i]);
    T t(s);
    out.push_back(mant(t));
  }
}

template <class T, class... Ss>
void run_target(Vec& out, int fmt, int qi, int oi, srcs<Ss...>) {
  const std::vector<uint64_t>& xs = g_dbl[fmt];
  header(out, 0, fmt, is_signed_fx<T>::value, qi, oi, -1, xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    double d;
    std::memcpy(&d, &xs[i], sizeof d);
    T t(d);
    out.push_back(mant(t));
  }
  int expand[] = {0, (run_source<T>(out, fmt, qi, oi, Ss()), 0)...};
  (void)expand;
}

template <int W, int I, ap_o_mode O, class SRCS>
void run_format(Vec& out, int fmt, int oi) {
#define HARNESS_RUN_Q(QI, Q)                                     \
  run_target<ap_fixed<W, I, Q, O> >(out, fmt, QI, oi, SRCS());  \
  run_target<ap_ufixed<W, I, Q, O> >(out, fmt, QI, oi, SRCS());
  HARNESS_QMODES(HARNESS_RUN_Q)
#undef HARNESS_RUN_Q
}

template <int OI>
struct omode_of;
#define HARNESS_OMODE_OF(OI, O)                 \
  template <>                                   \
  struct omode_of<OI> {                         \
    static const ap_o_mode value = O;           \
  };
HARNESS_OMODES(HARNESS_OMODE_OF)
#undef HARNESS_OMODE_OF

#define HARNESS_CAT2(a, b) a##b
#define HARNESS_CAT(a, b) HARNESS_CAT2(a, b)

void HARNESS_CAT(harness_part_, HARNESS_PART)(Vec& out) {
  const ap_o_mode O = omode_of<HARNESS_PART>::value;
#define HARNESS_RUN_F(FI, W, I, SRCS) run_format<W, I, O, SRCS>(out, FI, HARNESS_PART);
  HARNESS_FORMATS(HARNESS_RUN_F)
#undef HARNESS_RUN_F
}

#else
// ------------------------------------------------------------------------ main
std::vector<std::vector<uint64_t> > g_dbl;
std::vector<std::vector<Vec> > g_src;
static std::vector<Vec> g_pa, g_pb;

#define HARNESS_DECL_PART(OI, O) void harness_part_##OI(Vec& out);
HARNESS_OMODES(HARNESS_DECL_PART)
#undef HARNESS_DECL_PART

static FILE* open_or_die(const std::string& path, const char* mode) {
  FILE* f = std::fopen(path.c_str(), mode);
  if (!f) {
    std::fprintf(stderr, "harness: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  return f;
}

template <class A, class B>
void run_pair(Vec& out, int pi) {
  typedef decltype(A() * B()) M;
  typedef decltype(A() + B()) P;
  const Vec& ma = g_pa[pi];
  const Vec& mb = g_pb[pi];
  header(out, 2, pi, M::width, M::iwidth, is_signed_fx<M>::value, -1, ma.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    A a;
    B b;
    a.setBits((ap_ulong)ma[i]);
    b.setBits((ap_ulong)mb[i]);
    M r = a * b;
    out.push_back(mant(r));
  }
  header(out, 3, pi, P::width, P::iwidth, is_signed_fx<P>::value, -1, ma.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    A a;
    B b;
    a.setBits((ap_ulong)ma[i]);
    b.setBits((ap_ulong)mb[i]);
    P r = a + b;
    out.push_back(mant(r));
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<int> nsrc;
#define HARNESS_COUNT_F(FI, W, I, SRCS) nsrc.push_back(SRCS::count);
  HARNESS_FORMATS(HARNESS_COUNT_F)
#undef HARNESS_COUNT_F
  const int nfmt = (int)nsrc.size();
  g_dbl.resize(nfmt);
  g_src.resize(nfmt);
  for (int f = 0; f < nfmt; ++f) {
    g_src[f].resize(nsrc[f]);
    FILE* fp = open_or_die(dir + "/dbl_" + std::to_string(f) + ".txt", "r");
    unsigned long long u;
    while (std::fscanf(fp, "%llx", &u) == 1) g_dbl[f].push_back((uint64_t)u);
    std::fclose(fp);
    for (int s = 0; s < nsrc[f]; ++s) {
      fp = open_or_die(dir + "/src_" + std::to_string(f) + "_" + std::to_string(s) + ".txt", "r");
      long long m;
      while (std::fscanf(fp, "%lld", &m) == 1) g_src[f][s].push_back((int64_t)m);
      std::fclose(fp);
    }
  }
  Vec out;
#define HARNESS_RUN_PAIR(PI, A, B)                                                  \
  {                                                                                 \
    g_pa.resize(PI + 1);                                                            \
    g_pb.resize(PI + 1);                                                            \
    FILE* fp = open_or_die(dir + "/pair_" + std::to_string(PI) + ".txt", "r");      \
    long long x, y;                                                                 \
    while (std::fscanf(fp, "%lld %lld", &x, &y) == 2) {                             \
      g_pa[PI].push_back((int64_t)x);                                               \
      g_pb[PI].push_back((int64_t)y);                                               \
    }                                                                               \
    std::fclose(fp);                                                                \
    run_pair<A, B>(out, PI);                                                        \
  }
  HARNESS_PAIRS(HARNESS_RUN_PAIR)
#undef HARNESS_RUN_PAIR
#define HARNESS_CALL_PART(OI, O) harness_part_##OI(out);
  HARNESS_OMODES(HARNESS_CALL_PART)
#undef HARNESS_CALL_PART
  FILE* fo = open_or_die(dir + "/out.bin", "wb");
  if (std::fwrite(out.data(), sizeof(int64_t), out.size(), fo) != out.size()) {
    std::fprintf(stderr, "harness: short write\n");
    return 2;
  }
  std::fclose(fo);
  return 0;
}
#endif
