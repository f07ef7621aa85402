// fpga-flow Verilog library: ff_requant
//
// Exact cast of a fixed-point mantissa to another fixed-point type, with the semantics of
// fpga_flow.fixed.cast (= ap_fixed): optional ReLU, then round the dropped bits with RND, then
// handle out-of-range values with OVF. Purely combinational.
//
//   SHIFT = F_IN - F_OUT   (> 0: SHIFT bits are dropped and rounded; < 0: -SHIFT zeros appended)
//   RND:  0 TRN  1 TRN_ZERO  2 RND  3 RND_ZERO  4 RND_MIN_INF  5 RND_INF  6 RND_CONV
//   OVF:  0 WRAP 1 SAT       2 SAT_ZERO        3 SAT_SYM
//   IN_SIGNED also plays ap_fixed's "source is signed" role for SAT_SYM.
module ff_requant #(
    parameter integer W_IN       = 16,
    parameter integer IN_SIGNED  = 1,
    parameter integer W_OUT      = 8,
    parameter integer OUT_SIGNED = 1,
    parameter integer SHIFT      = 0,
    parameter integer RND        = 0,
    parameter integer OVF        = 0,
    parameter integer RELU       = 0
) (
    input  wire [W_IN-1:0]  din,
    output wire [W_OUT-1:0] dout
);
    localparam integer S  = (SHIFT > 0) ? SHIFT : 0;     // right shift (rounded)
    localparam integer K  = (SHIFT < 0) ? -SHIFT : 0;    // left shift (exact)
    localparam integer WX = W_IN + 1;                    // signed view of the input
    localparam integer WE = WX + S + 1;                  // room for every shifted-out bit
    localparam integer WV0 = ((WE + K) > (W_OUT + 1)) ? (WE + K) : (W_OUT + 1);
    localparam integer WV = WV0 + 1;                     // always wider than WE and W_OUT+1

    // ---- ReLU on the signed view (unsigned inputs get a 0 sign bit)
    wire               neg_in = (IN_SIGNED != 0) ? din[W_IN-1] : 1'b0;
    wire signed [WX-1:0] x0   = {neg_in, din};
    wire signed [WX-1:0] x    = ((RELU != 0) && neg_in) ? {WX{1'b0}} : x0;
    wire               neg    = x[WX-1];

    // ---- round: floor(x / 2^S) + inc
    wire signed [WE-1:0] xe = {{(S + 1){x[WX-1]}}, x};
    wire signed [WE-1:0] fl = xe >>> S;
    wire half, rest;
    generate
        if (S == 0) begin : g_s0
            assign half = 1'b0;
            assign rest = 1'b0;
        end else if (S == 1) begin : g_s1
            assign half = xe[0];
            assign rest = 1'b0;
        end else begin : g_sn
            assign half = xe[S-1];
            assign rest = |xe[S-2:0];
        end
    endgenerate
    wire nonzero = half | rest;
    wire inc = (RND == 1) ? (nonzero & neg) :
               (RND == 2) ? half :
               (RND == 3) ? (half & (rest | neg)) :
               (RND == 4) ? (half & rest) :
               (RND == 5) ? (half & (rest | ~neg)) :
               (RND == 6) ? (half & (rest | fl[0])) : 1'b0;
    wire signed [WE-1:0] q = fl + {{(WE - 1){1'b0}}, inc};

    // ---- exact value in target LSBs, then overflow handling
    wire signed [WV-1:0] qx = {{(WV - WE){q[WE-1]}}, q};
    wire signed [WV-1:0] v  = qx <<< K;
    localparam [WV-1:0] ONE = {{(WV - 1){1'b0}}, 1'b1};
    localparam [WV-1:0] HI  = (ONE << (W_OUT - ((OUT_SIGNED != 0) ? 1 : 0))) - ONE;
    localparam [WV-1:0] LO  = (OUT_SIGNED != 0) ? (~(ONE << (W_OUT - 1)) + ONE) : {WV{1'b0}};
    localparam [WV-1:0] NHI = ~HI + ONE;
    wire signed [WV-1:0] hi = HI;
    wire signed [WV-1:0] lo = LO;
    wire ovf_hi = v > hi;
    wire ovf_lo = v < lo;
    wire at_lo  = (v == lo);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [WV-1:0] v_u = v;  // only the low W_OUT bits leave the module
    /* verilator lint_on UNUSEDSIGNAL */
    wire [W_OUT-1:0] low    = v_u[W_OUT-1:0];
    wire [W_OUT-1:0] hi_o   = HI[W_OUT-1:0];
    wire [W_OUT-1:0] lo_o   = LO[W_OUT-1:0];
    wire [W_OUT-1:0] nhi_o  = NHI[W_OUT-1:0];
    wire [W_OUT-1:0] zero_o = {W_OUT{1'b0}};
    generate
        if (OVF == 1 || (OVF == 3 && OUT_SIGNED == 0)) begin : g_sat
            assign dout = ovf_hi ? hi_o : (ovf_lo ? lo_o : low);
        end else if (OVF == 2) begin : g_satzero
            assign dout = (ovf_hi | ovf_lo) ? zero_o : low;
        end else if (OVF == 3) begin : g_satsym
            assign dout = ovf_hi ? hi_o :
                          ((ovf_lo | ((IN_SIGNED != 0) & at_lo)) ? nhi_o : low);
        end else begin : g_wrap
            assign dout = low;
        end
    endgenerate
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused_ok = &{1'b0, ovf_hi, ovf_lo, at_lo, hi_o, lo_o, nhi_o, zero_o};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
