// fpga-flow Verilog library: ff_sparse_mac
//
// Sparse (CSR) matrix-vector engine of one fully-connected layer with P lanes, EIE style:
// rows are dealt to lanes balanced by entry count; all lanes walk one shared ROM in lockstep,
// ROM word k holding entry k of every lane (lane l in bits [l*ENTRY_W +: ENTRY_W], see
// ff_mac_lane for the entry format; short lanes are padded with invalid entries). One entry per
// lane per cycle, so a sample takes ENTRIES cycles plus the pipeline. Empty rows carry one
// zero-weight entry (the output is then the bias). A dense layer is the same engine with every
// weight stored.
//
// Factored codebook mode (FACTORED=1, needs CB=1; the HLS codebook_factored_layer): each lane is
// an ff_factored_lane instead of an ff_mac_lane. Same ROM entry format, ports and handshake; per
// entry a lane only adds x into one of K = 2^CB_BITS running sums S_k (SUM_W bits, signed), and
// at a row end it computes bias + sum_k cb[k] * S_k with constant shift-add multipliers (no DSP)
// and a registered adder tree.
//
// Handshake (per sample, with the ff_act_mem on each side): start when the input buffer holds a
// sample (in_valid) and the output slot is free (out_ready); when the last write has landed,
// pulse in_release and out_commit together. Cycles per sample: 1 + ENTRIES + DRAIN, with
//   DRAIN = 5             (FACTORED=0, ff_mac_lane)
//   DRAIN = 5 + CB_BITS   (FACTORED=1, ff_factored_lane: one more cycle per adder tree level)
// (localparam DRAIN; the same for latency and initiation interval).
//
// Shared input (SHARED=1, the input ff_act_mem in shared mode, fpga_flow/hw/banking.py): ROM word
// k also holds, above the lanes' entries, the read address of every bank of every input copy
// (NRA = GROUPS * BANKS_IN fields of AW_IN bits, copy g bank b in field g*BANKS_IN + b), driven
// onto raddr in the cycle the lanes see the word; each lane's entry then holds only its bank
// select (its address field is one unused bit). The ROM is the planner's conflict-free schedule
// (a lane idles on an invalid word), so ENTRIES is the schedule's length.
module ff_sparse_mac #(
    parameter integer P          = 1,
    parameter integer ENTRIES    = 1,
    parameter integer EAW        = 1,    // >= max(1, clog2(ENTRIES))
    parameter         ROM_FILE   = "rom.mem",
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
    parameter integer SHIFT_P    = 0,
    parameter integer SHIFT_B    = 0,
    parameter integer AW_IN      = 1,
    parameter integer BW_IN      = 1,
    parameter integer W_OUT      = 8,
    parameter integer OUT_SIGNED = 1,
    parameter integer RQ_SHIFT   = 0,
    parameter integer RND        = 0,
    parameter integer OVF        = 0,
    parameter integer RELU       = 0,
    parameter integer AW_OUT     = 1,
    parameter integer FACTORED   = 0,    // 1: factored codebook lanes (ff_factored_lane)
    parameter integer IDENTITY   = 0,    // 1: every weight is 1 (the point-wise engine): no multipliers
    /* verilator lint_off UNUSEDPARAM */
    parameter integer SUM_W      = 16,   // FACTORED=1: signed width of each running sum S_k
    /* verilator lint_on UNUSEDPARAM */
    parameter integer SHARED     = 0,    // 1: the input is a shared ff_act_mem (see above)
    parameter integer GROUPS     = 1,
    parameter integer BANKS_IN   = 1,
    parameter integer NRA        = (SHARED != 0) ? GROUPS * BANKS_IN : P,  // read address fields
    parameter integer ROM_BLOCK  = 0     // 1: the ROM carries rom_style = "block" (block RAM, not logic)
) (
    input  wire                  clk,
    input  wire                  rst_n,
    // input buffer (read side)
    input  wire                  in_valid,
    output wire                  in_release,
    output wire [P*BW_IN-1:0]    rbank,
    output wire [NRA*AW_IN-1:0]  raddr,
    input  wire [P*W_X-1:0]      rdata,
    // output buffer (write side)
    input  wire                  out_ready,
    output wire                  out_commit,
    output wire [P-1:0]          we,
    output wire [P*AW_OUT-1:0]   waddr,
    output wire [P*W_OUT-1:0]    wdata
);
    localparam integer LAW = (SHARED != 0) ? 1 : AW_IN;  // a lane entry's address bits
    localparam integer ENTRY_W = WF + LAW + BW_IN + BIAS_W + 3;
    localparam integer ROM_W = P*ENTRY_W + ((SHARED != 0) ? NRA*AW_IN : 0);
    // drain cycles: last entry -> last write (the lane's pipeline depth)
    localparam integer DRAIN = (FACTORED != 0) ? (5 + CB_BITS) : 5;
    localparam integer DCW = (DRAIN <= 8) ? 3 : (DRAIN <= 16) ? 4 : (DRAIN <= 32) ? 5 : 6;
    localparam [31:0] DRAIN_LAST32 = DRAIN - 1;
    localparam [DCW-1:0] DRAIN_LAST = DRAIN_LAST32[DCW-1:0];
    localparam [31:0] LAST32 = ENTRIES - 1;
    localparam [EAW-1:0] LAST = LAST32[EAW-1:0];
    localparam [1:0] S_IDLE = 2'd0, S_RUN = 2'd1, S_DRAIN = 2'd2;


    reg [1:0]     state;
    reg [EAW-1:0] k;
    reg [DCW-1:0] dcnt;
    reg           s1_v;
    reg [ROM_W-1:0] rom_q;

    wire start = (state == S_IDLE) && in_valid && out_ready;
    wire issue = (state == S_RUN);
    wire done  = (state == S_DRAIN) && (dcnt == DRAIN_LAST);
    assign in_release = done;
    assign out_commit = done;

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IDLE;
            k     <= {EAW{1'b0}};
            dcnt  <= {DCW{1'b0}};
            s1_v  <= 1'b0;
        end else begin
            s1_v <= issue;
            case (state)
                S_IDLE: if (start) begin
                    state <= S_RUN;
                    k     <= {EAW{1'b0}};
                end
                S_RUN: if (k == LAST) begin
                    state <= S_DRAIN;
                    dcnt  <= {DCW{1'b0}};
                end else begin
                    k <= k + 1'b1;
                end
                default: if (done) state <= S_IDLE;
                         else dcnt <= dcnt + 1'b1;
            endcase
        end
    end

    generate
        if (ROM_BLOCK != 0) begin : g_rom_block
            (* rom_style = "block" *) reg [ROM_W-1:0] rom [0:ENTRIES-1];
            initial $readmemh(ROM_FILE, rom);
            always @(posedge clk) begin
                if (issue) rom_q <= rom[k];
            end
        end else begin : g_rom
            reg [ROM_W-1:0] rom [0:ENTRIES-1];
            initial $readmemh(ROM_FILE, rom);
            always @(posedge clk) begin
                if (issue) rom_q <= rom[k];
            end
        end
    endgenerate

    // the lanes' own read addresses (per-port copies), or the ROM's per-bank addresses (shared)
    wire [P*LAW-1:0] lane_raddr;
    generate
        if (SHARED != 0) begin : g_shared
            assign raddr = rom_q[P*ENTRY_W +: NRA*AW_IN];
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_lane_raddr = ^lane_raddr;
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_own
            assign raddr = lane_raddr;
        end
    endgenerate

    genvar l;
    generate
        if ((FACTORED != 0) && (CB == 0)) begin : g_bad
            // FACTORED=1 needs codebook entries (CB=1): fail elaboration on a missing module
            ff_sparse_mac_FACTORED_needs_CB_1 u_error ();
        end
        for (l = 0; l < P; l = l + 1) begin : g_lane
            if (FACTORED != 0) begin : g_factored
                ff_factored_lane #(
                    .W_X(W_X), .X_SIGNED(X_SIGNED), .WF(WF), .W_W(W_W), .W_SIGNED(W_SIGNED),
                    .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK), .SUM_W(SUM_W),
                    .BIAS_W(BIAS_W), .B_SIGNED(B_SIGNED), .W_ACC(W_ACC), .SHIFT_P(SHIFT_P),
                    .SHIFT_B(SHIFT_B), .AW_IN(LAW), .BW_IN(BW_IN), .W_OUT(W_OUT),
                    .OUT_SIGNED(OUT_SIGNED), .RQ_SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF),
                    .RELU(RELU), .AW_OUT(AW_OUT), .ENTRY_W(ENTRY_W)
                ) u_lane (
                    .clk(clk), .rst_n(rst_n), .start(start), .s1_v(s1_v),
                    .entry(rom_q[l*ENTRY_W +: ENTRY_W]),
                    .rbank(rbank[l*BW_IN +: BW_IN]), .raddr(lane_raddr[l*LAW +: LAW]),
                    .x(rdata[l*W_X +: W_X]),
                    .we(we[l]), .waddr(waddr[l*AW_OUT +: AW_OUT]), .wdata(wdata[l*W_OUT +: W_OUT])
                );
            end else begin : g_plain
                ff_mac_lane #(
                    .W_X(W_X), .X_SIGNED(X_SIGNED), .WF(WF), .W_W(W_W), .W_SIGNED(W_SIGNED),
                    .CB(CB), .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK),
                    .BIAS_W(BIAS_W), .B_SIGNED(B_SIGNED), .W_ACC(W_ACC), .SHIFT_P(SHIFT_P),
                    .SHIFT_B(SHIFT_B), .AW_IN(LAW), .BW_IN(BW_IN), .W_OUT(W_OUT),
                    .OUT_SIGNED(OUT_SIGNED), .RQ_SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF),
                    .RELU(RELU), .AW_OUT(AW_OUT), .IDENTITY(IDENTITY), .ENTRY_W(ENTRY_W)
                ) u_lane (
                    .clk(clk), .rst_n(rst_n), .start(start), .s1_v(s1_v),
                    .entry(rom_q[l*ENTRY_W +: ENTRY_W]),
                    .rbank(rbank[l*BW_IN +: BW_IN]), .raddr(lane_raddr[l*LAW +: LAW]),
                    .x(rdata[l*W_X +: W_X]),
                    .we(we[l]), .waddr(waddr[l*AW_OUT +: AW_OUT]), .wdata(wdata[l*W_OUT +: W_OUT])
                );
            end
        end
    endgenerate
endmodule
