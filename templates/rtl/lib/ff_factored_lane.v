// fpga-flow Verilog library: ff_factored_lane
//
// One lane of the sparse MAC engine in factored codebook mode (ff_sparse_mac with FACTORED=1,
// the Verilog twin of the HLS codebook_factored_layer). With weight sharing a row's dot product
// regroups as sum_k cb[k] * S_k, S_k the sum of the row's inputs whose code is k, K = 2^CB_BITS.
// Per entry the lane only adds x to S[code] (one adder, no multiplier); at the row's last entry
// it computes
//     acc = (bias << SHIFT_B) + sum_k ((cb[k] * S_k) << SHIFT_P)
// with K constant-coefficient multipliers written as shift-adds over the canonical signed digits
// (CSD) of cb[k] (LUT adders, never a DSP), summed by a registered adder tree; then ReLU +
// requantization (ff_requant) and the write of the row's output to the lane's bank at the lane's
// next row ordinal, exactly as ff_mac_lane. S_k is kept modulo 2^SUM_W; products, leaves and
// tree nodes at the widths that hold them exactly, at most W_ACC (then modulo 2^W_ACC, which
// the final sum undoes): exact when every S_k fits SUM_W (signed) and the row result fits
// W_ACC, which the planner guarantees. A code whose codebook entry is 0 (padding, the empty-row
// code) keeps no sum register. The multipliers are generated adders because yosys (0.23) maps a
// `*` by a constant onto a DSP48E1 and honours no attribute against it.
//
// Entry: as ff_mac_lane (LSB first): weight field [WF] (the code in its low CB_BITS bits),
// input address [AW_IN], input bank [BW_IN], bias [BIAS_W] (meaningful on a row's first entry),
// first, last, valid. Entries with valid=0 (lane padding) do nothing.
//
// Pipeline (one entry per cycle, rows back to back, a row may be one entry: the next row's sums
// accumulate while this row's result is still in the tree):
//   S1 entry -> input read; S2 S[code] += x (on a row's first entry every other sum restarts
//   from 0, and the bias is held for the row's end); S3 the K products (bias added into product
//   0), registered; T1..T_CB_BITS adder tree, one registered level each (its root is acc);
//   R requantize; W write (we/waddr/wdata registered).
//   DRAIN = 5 + CB_BITS cycles from entry to write (ff_mac_lane: 5).
module ff_factored_lane #(
    parameter integer W_X        = 8,
    parameter integer X_SIGNED   = 1,
    parameter integer WF         = 8,
    parameter integer W_W        = 8,
    parameter integer W_SIGNED   = 1,
    parameter integer CB_BITS    = 1,
    parameter [(W_W << CB_BITS)-1:0] CODEBOOK = {(W_W << CB_BITS){1'b0}},
    parameter integer SUM_W      = 16,   // signed width of each S_k
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
    localparam integer K  = 1 << CB_BITS;
    localparam integer XW = ((W_X + 1) > SUM_W) ? (W_X + 1) : SUM_W;   // x extended, then cut
    localparam integer WB0 = ((BIAS_W + 1 + SHIFT_B) > W_ACC) ? (BIAS_W + 1 + SHIFT_B) : W_ACC;
    localparam integer WB = WB0 + 1;
    // Widths (signed) that hold their values exactly, at most W_ACC (then modulo 2^W_ACC):
    // cb[k] * S_k << SHIFT_P fits W_W + SUM_W + SHIFT_P bits, the shifted bias BIAS_W + 1 +
    // SHIFT_B; a leaf (product, plus the bias in leaf 0) one more; a tree node at depth d (root
    // d = 0, leaves d = CB_BITS) sums 2^(CB_BITS-d) leaves: CB_BITS - d more.
    localparam integer PWS = W_W + SUM_W + SHIFT_P;
    localparam integer BWS = BIAS_W + 1 + SHIFT_B;
    localparam integer LW0 = ((PWS > BWS) ? PWS : BWS) + 1;
    localparam integer LW  = (LW0 < W_ACC) ? LW0 : W_ACC;
    localparam integer SW  = ((SUM_W > LW) ? SUM_W : LW) + 1;          // S_k extended, then cut

    // Digit (-1, 0 or +1) at weight 2^pos of the canonical signed-digit form of the constant
    // `bits` (a W_W-bit codebook entry, signed when W_SIGNED). Positions 0..W_W cover it.
    function integer csd_digit;
        input [W_W-1:0] bits;
        input integer   pos;
        integer c, d, j;
        begin
            c = 0;
            for (j = 0; j < W_W; j = j + 1)
                if (bits[j]) c = c + (1 << j);
            if ((W_SIGNED != 0) && bits[W_W-1]) c = c - (1 << W_W);
            d = 0;
            for (j = 0; j <= pos; j = j + 1) begin
                if ((c % 2) == 0) d = 0;
                else if (((c % 4) == 1) || ((c % 4) == -3)) d = 1;
                else d = -1;
                c = (c - d) / 2;  // exact: c - d is even
            end
            csd_digit = d;
        end
    endfunction

    // Position of the lowest +1 digit of `bits` (W_W + 1 when there is none).
    function integer first_pos;
        input [W_W-1:0] bits;
        integer j;
        begin
            first_pos = W_W + 1;
            for (j = W_W; j >= 0; j = j - 1)
                if (csd_digit(bits, j) > 0) first_pos = j;
        end
    endfunction

    // Width of tree node n (heap numbering, root 1): LW + CB_BITS - depth(n), at most W_ACC.
    function integer node_w;
        input integer n;
        integer d, m;
        begin
            d = 0;
            for (m = n; m > 1; m = m / 2) d = d + 1;
            node_w = ((LW + CB_BITS - d) < W_ACC) ? (LW + CB_BITS - d) : W_ACC;
        end
    endfunction

    // ---- S1: decode the entry
    /* verilator lint_off UNUSEDSIGNAL */
    wire [WF-1:0]     e_w     = entry[WF-1:0];   // only the low CB_BITS bits carry the code
    /* verilator lint_on UNUSEDSIGNAL */
    wire [BIAS_W-1:0] e_bias  = entry[WF + AW_IN + BW_IN +: BIAS_W];
    wire              e_first = entry[ENTRY_W-3];
    wire              e_last  = entry[ENTRY_W-2];
    wire              e_valid = entry[ENTRY_W-1];
    assign raddr = entry[WF +: AW_IN];
    assign rbank = entry[WF + AW_IN +: BW_IN];

    reg               s2_v, s2_first, s2_last;
    reg [CB_BITS-1:0] s2_code;
    reg [BIAS_W-1:0]  s2_bias;

    // ---- S2: S[code] += x (restart every sum on a row's first entry)
    wire          xneg = (X_SIGNED != 0) ? x[W_X-1] : 1'b0;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [XW-1:0] x_full = {{(XW - W_X){xneg}}, x};
    /* verilator lint_on UNUSEDSIGNAL */
    wire [SUM_W-1:0] x_s = x_full[SUM_W-1:0];
    wire [K*SUM_W-1:0] sums;                  // S_k in bits [k*SUM_W +: SUM_W]
    wire [SUM_W-1:0] s_cur = s2_first ? {SUM_W{1'b0}} : sums[s2_code*SUM_W +: SUM_W];
    wire [SUM_W-1:0] s_new = s_cur + x_s;
    wire [K-1:0]     hit   = {{(K - 1){1'b0}}, 1'b1} << s2_code;
    reg  [BIAS_W-1:0] row_bias;               // bias of the row being summed
    reg               s3_end;                 // S3 holds a row's last entry

    // ---- S3: products (constants, shift-add) and bias, into the leaves of the tree
    wire        [BIAS_W:0] b_s = {(B_SIGNED != 0) ? row_bias[BIAS_W-1] : 1'b0, row_bias};
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [WB-1:0] bias_w = {{(WB - BIAS_W - 1){b_s[BIAS_W]}}, b_s} <<< SHIFT_B;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [LW-1:0] bias_al = bias_w[LW-1:0];
    // Adder tree as a heap: node n (1 <= n < 2K) in bits [(n-1)*W_ACC +: W_ACC], node_w(n) bits
    // sign-extended; leaf k is node K+k; node n < K registers the sum of nodes 2n and 2n+1;
    // node 1, the root, is acc.
    /* verilator lint_off UNUSEDSIGNAL */
    wire [(2*K-1)*W_ACC-1:0] tree;           // a parent reads only its width of a child
    /* verilator lint_on UNUSEDSIGNAL */
    reg  [CB_BITS:0]     tv;                  // tv[j]: tree depth CB_BITS - j holds a row result

    genvar k, i, n;
    generate
        for (k = 0; k < K; k = k + 1) begin : g_code
            // the running sum of code k (none for a zero codebook entry)
            if (CODEBOOK[k*W_W +: W_W] == {W_W{1'b0}}) begin : g_zero
                assign sums[k*SUM_W +: SUM_W] = {SUM_W{1'b0}};
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hit = hit[k];
                /* verilator lint_on UNUSEDSIGNAL */
            end else begin : g_sum
                reg [SUM_W-1:0] s_q;
                always @(posedge clk) begin
                    if (s2_v) begin
                        if (hit[k]) s_q <= s_new;
                        else if (s2_first) s_q <= {SUM_W{1'b0}};
                    end
                end
                assign sums[k*SUM_W +: SUM_W] = s_q;
            end

            // leaf k = (k == 0 ? bias : 0) + cb[k] * S_k << SHIFT_P: the +1 digits of cb[k]'s
            // CSD form added first (the lowest one without an adder when there is no bias),
            // then the -1 digits subtracted: one adder per nonzero digit beyond the first.
            /* verilator lint_off UNUSEDSIGNAL */
            wire [SW-1:0] s_ext = {{(SW - SUM_W){sums[k*SUM_W + SUM_W - 1]}}, sums[k*SUM_W +: SUM_W]};
            wire [LW-1:0] s_a = s_ext[LW-1:0];  // unused for a zero codebook entry
            /* verilator lint_on UNUSEDSIGNAL */
            // partial sum j in [j*LW +: LW]: j = 0 the base, j = i+1 after +1 digit i,
            // j = W_W+2+i after -1 digit i; the leaf is partial sum 2*W_W+2
            /* verilator lint_off UNUSEDSIGNAL */
            wire [(2*W_W+3)*LW-1:0] chain;  // the base is unused when the first digit replaces it
            /* verilator lint_on UNUSEDSIGNAL */
            if (k == 0) begin : g_bias
                assign chain[LW-1:0] = bias_al;
            end else begin : g_nobias
                assign chain[LW-1:0] = {LW{1'b0}};
            end
            for (i = 0; i <= W_W; i = i + 1) begin : g_pos
                if (csd_digit(CODEBOOK[k*W_W +: W_W], i) <= 0) begin : g_pass
                    assign chain[(i+1)*LW +: LW] = chain[i*LW +: LW];
                end else if ((k != 0) && (i == first_pos(CODEBOOK[k*W_W +: W_W]))) begin : g_first
                    assign chain[(i+1)*LW +: LW] = s_a << (i + SHIFT_P);
                end else begin : g_add
                    assign chain[(i+1)*LW +: LW] = chain[i*LW +: LW] + (s_a << (i + SHIFT_P));
                end
            end
            for (i = 0; i <= W_W; i = i + 1) begin : g_neg
                if (csd_digit(CODEBOOK[k*W_W +: W_W], i) >= 0) begin : g_pass
                    assign chain[(W_W+2+i)*LW +: LW] = chain[(W_W+1+i)*LW +: LW];
                end else begin : g_sub
                    assign chain[(W_W+2+i)*LW +: LW] = chain[(W_W+1+i)*LW +: LW] - (s_a << (i + SHIFT_P));
                end
            end
            reg [LW-1:0] leaf;
            always @(posedge clk) begin
                if (s3_end) leaf <= chain[(2*W_W+2)*LW +: LW];
            end
            if (LW < W_ACC) begin : g_ext
                assign tree[(K+k-1)*W_ACC +: W_ACC] = {{(W_ACC - LW){leaf[LW-1]}}, leaf};
            end else begin : g_full
                assign tree[(K+k-1)*W_ACC +: W_ACC] = leaf;
            end
        end

        // ---- T1..T_CB_BITS: the adder tree, one registered level per cycle
        for (n = 1; n < K; n = n + 1) begin : g_node
            reg [node_w(n)-1:0] node;
            always @(posedge clk) begin
                node <= tree[(2*n-1)*W_ACC +: node_w(n)] + tree[(2*n)*W_ACC +: node_w(n)];
            end
            if (node_w(n) < W_ACC) begin : g_ext
                assign tree[(n-1)*W_ACC +: W_ACC] = {{(W_ACC - node_w(n)){node[node_w(n)-1]}}, node};
            end else begin : g_full
                assign tree[(n-1)*W_ACC +: W_ACC] = node;
            end
        end
    endgenerate

    wire [W_ACC-1:0] acc = tree[W_ACC-1:0];
    wire             acc_v = tv[CB_BITS];

    // ---- R: activation + requantize
    wire [W_OUT-1:0] rq;
    ff_requant #(
        .W_IN(W_ACC), .IN_SIGNED(1), .W_OUT(W_OUT), .OUT_SIGNED(OUT_SIGNED),
        .SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF), .RELU(RELU)
    ) u_rq (.din(acc), .dout(rq));

    // ---- W: write
    reg              w_we;
    reg [AW_OUT-1:0] w_addr, ocnt;
    reg [W_OUT-1:0]  w_data;
    assign we    = w_we;
    assign waddr = w_addr;
    assign wdata = w_data;

    always @(posedge clk) begin
        if (!rst_n) begin
            s2_v   <= 1'b0;
            s3_end <= 1'b0;
            tv     <= {(CB_BITS + 1){1'b0}};
            w_we   <= 1'b0;
            ocnt   <= {AW_OUT{1'b0}};
        end else begin
            s2_v   <= s1_v & e_valid;
            s3_end <= s2_v & s2_last;
            tv     <= {tv[CB_BITS-1:0], s3_end};
            w_we   <= acc_v;
            if (start) ocnt <= {AW_OUT{1'b0}};
            else if (acc_v) ocnt <= ocnt + 1'b1;
        end
    end

    always @(posedge clk) begin
        s2_first <= e_first;
        s2_last  <= e_last;
        s2_code  <= e_w[CB_BITS-1:0];
        s2_bias  <= e_bias;
        if (s2_v & s2_first) row_bias <= s2_bias;
        w_addr <= ocnt;
        w_data <= rq;
    end
endmodule
