// fpga-flow Verilog library: ff_mac_lane
//
// One lane of the sparse MAC engine: takes one CSR entry per cycle (from the engine's ROM) and
// accumulates bias + sum(w * x) of the lane's current row exactly in W_ACC bits, then applies
// ReLU + requantization (ff_requant) and writes the row's output to the lane's bank of the next
// activation buffer at the lane's next row ordinal.
//
// Entry (LSB first): weight field [WF] (weight mantissa, or codebook index when CB != 0),
// input address [AW_IN], input bank [BW_IN], bias [BIAS_W] (meaningful on a row's first
// entry), first, last (end of row: CSR row_ptr as a bit), valid.
//
// Pipeline: S1 entry -> input read + weight decode; S2 product; S3 accumulate;
// S4 requantize; S5 write (we/waddr/wdata registered). 5 cycles from entry to write.
//
// Max mode (MAX_MODE=1, max pooling in ff_window): no multiplier and no bias; S3 keeps the
// running maximum instead of the sum (a row's first entry loads x, later entries keep the
// larger value, compared signed in W_ACC bits), then ff_requant as usual. Same pipeline and
// cycles.
module ff_mac_lane #(
    parameter integer W_X        = 8,
    parameter integer X_SIGNED   = 1,
    parameter integer WF         = 8,
    parameter integer W_W        = 8,
    parameter integer W_SIGNED   = 1,
    parameter integer CB         = 0,
    parameter integer CB_BITS    = 1,
    parameter [(W_W << CB_BITS)-1:0] CODEBOOK = {(W_W << CB_BITS){1'b0}},
    parameter integer BIAS_W     = 8,
    parameter integer B_SIGNED   = 1,
    parameter integer W_ACC      = 24,
    parameter integer SHIFT_P    = 0,    // acc.frac - (weight.frac + x.frac)
    parameter integer SHIFT_B    = 0,    // acc.frac - bias.frac
    parameter integer AW_IN      = 1,
    parameter integer BW_IN      = 1,
    parameter integer W_OUT      = 8,
    parameter integer OUT_SIGNED = 1,
    parameter integer RQ_SHIFT   = 0,    // acc.frac - out.frac
    parameter integer RND        = 0,
    parameter integer OVF        = 0,
    parameter integer RELU       = 0,
    parameter integer AW_OUT     = 1,
    parameter integer IDENTITY   = 0,    // 1: every weight is 1 (point-wise engine): no multiplier
    parameter integer MAX_MODE   = 0,    // 1: running maximum of x per row (max pooling), no multiplier
    parameter integer ENTRY_W    = WF + AW_IN + BW_IN + BIAS_W + 3
) (
    input  wire               clk,
    input  wire               rst_n,
    input  wire               start,     // a new sample begins: restart the output ordinal
    input  wire               s1_v,      // `entry` holds a ROM word this cycle
    input  wire [ENTRY_W-1:0] entry,
    output wire [BW_IN-1:0]   rbank,
    output wire [AW_IN-1:0]   raddr,
    input  wire [W_X-1:0]     x,         // input element, one cycle after rbank/raddr
    output wire               we,
    output wire [AW_OUT-1:0]  waddr,
    output wire [W_OUT-1:0]   wdata
);
    localparam integer PW = W_X + W_W + 2;                       // exact signed product
    localparam integer WA0 = ((PW + SHIFT_P) > W_ACC) ? (PW + SHIFT_P) : W_ACC;
    localparam integer WA = WA0 + 1;
    localparam integer WB0 = ((BIAS_W + 1 + SHIFT_B) > W_ACC) ? (BIAS_W + 1 + SHIFT_B) : W_ACC;
    localparam integer WB = WB0 + 1;

    // ---- S1: decode the entry
    wire [WF-1:0]     e_w     = entry[WF-1:0];
    wire [BIAS_W-1:0] e_bias  = entry[WF + AW_IN + BW_IN +: BIAS_W];
    wire              e_first = entry[ENTRY_W-3];
    wire              e_last  = entry[ENTRY_W-2];
    wire              e_valid = entry[ENTRY_W-1];
    assign raddr = entry[WF +: AW_IN];
    assign rbank = entry[WF + AW_IN +: BW_IN];

    wire [W_W-1:0] w_dec;
    generate
        if (CB != 0) begin : g_cb
            /* verilator lint_off UNUSEDSIGNAL */
            wire [WF-1:0] code_full = e_w;
            /* verilator lint_on UNUSEDSIGNAL */
            ff_codebook #(.W(W_W), .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK)) u_cb (
                .code(code_full[CB_BITS-1:0]), .value(w_dec));
        end else begin : g_val
            assign w_dec = e_w[W_W-1:0];
        end
    endgenerate

    reg              s2_v, s2_first, s2_last;
    reg [BIAS_W-1:0] s2_bias;
    reg [W_W-1:0]    s2_w;

    // ---- S2: exact product
    wire signed [W_X:0] xs = {(X_SIGNED != 0) ? x[W_X-1] : 1'b0, x};
    wire signed [W_W:0] ws = {(W_SIGNED != 0) ? s2_w[W_W-1] : 1'b0, s2_w};
    wire signed [PW-1:0] xs_e = {{(PW - W_X - 1){xs[W_X]}}, xs};
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [PW-1:0] ws_e = {{(PW - W_W - 1){ws[W_W]}}, ws};
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [PW-1:0] prod_d;
    generate
        if ((IDENTITY != 0) || (MAX_MODE != 0)) begin : g_identity
            assign prod_d = xs_e;  // the point-wise engine: x * 1 (max mode: x itself)
        end else begin : g_mult
            assign prod_d = xs_e * ws_e;
        end
    endgenerate
    reg              s3_v, s3_first, s3_last;
    reg [BIAS_W-1:0] s3_bias;
    reg signed [PW-1:0] s3_prod;

    // ---- S3: accumulate (exact: the accumulator type cannot overflow)
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [WA-1:0] prod_w = {{(WA - PW){s3_prod[PW-1]}}, s3_prod} <<< SHIFT_P;
    wire        [BIAS_W:0] b_s = {(B_SIGNED != 0) ? s3_bias[BIAS_W-1] : 1'b0, s3_bias};
    wire signed [WB-1:0] bias_w = {{(WB - BIAS_W - 1){b_s[BIAS_W]}}, b_s} <<< SHIFT_B;
    wire signed [W_ACC-1:0] bias_al = bias_w[W_ACC-1:0];  // unused in max mode
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [W_ACC-1:0] prod_al = prod_w[W_ACC-1:0];
    reg  signed [W_ACC-1:0] acc;
    wire signed [W_ACC-1:0] acc_d;
    reg                     s4_v;
    generate
        if (MAX_MODE != 0) begin : g_max
            assign acc_d = (s3_first || (prod_al > acc)) ? prod_al : acc;
        end else begin : g_sum
            assign acc_d = (s3_first ? bias_al : acc) + prod_al;
        end
    endgenerate

    // ---- S4: activation + requantize
    wire [W_OUT-1:0] rq;
    ff_requant #(
        .W_IN(W_ACC), .IN_SIGNED(1), .W_OUT(W_OUT), .OUT_SIGNED(OUT_SIGNED),
        .SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF), .RELU(RELU)
    ) u_rq (.din(acc), .dout(rq));

    // ---- S5: write
    reg              s5_we;
    reg [AW_OUT-1:0] s5_addr, ocnt;
    reg [W_OUT-1:0]  s5_data;
    assign we    = s5_we;
    assign waddr = s5_addr;
    assign wdata = s5_data;

    always @(posedge clk) begin
        if (!rst_n) begin
            s2_v  <= 1'b0;
            s3_v  <= 1'b0;
            s4_v  <= 1'b0;
            s5_we <= 1'b0;
            ocnt  <= {AW_OUT{1'b0}};
        end else begin
            s2_v  <= s1_v & e_valid;
            s3_v  <= s2_v;
            s4_v  <= s3_v & s3_last;
            s5_we <= s4_v;
            if (start) ocnt <= {AW_OUT{1'b0}};
            else if (s4_v) ocnt <= ocnt + 1'b1;
        end
    end

    always @(posedge clk) begin
        s2_first <= e_first;
        s2_last  <= e_last;
        s2_bias  <= e_bias;
        s2_w     <= w_dec;
        s3_first <= s2_first;
        s3_last  <= s2_last;
        s3_bias  <= s2_bias;
        s3_prod  <= prod_d;
        if (s3_v) acc <= acc_d;
        s5_addr <= ocnt;
        s5_data <= rq;
    end
endmodule
