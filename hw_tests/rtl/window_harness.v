// Test harness: one ff_window between its input ff_act_mems (N_SRC of them, IN_BANKS banks each,
// one read port per lane, written element by element from cocotb: input, bank, address, data;
// x_commit commits input x_src) and an output ff_act_mem (P banks, one read port, read from cocotb).
// SHARED=1: one input read through the engine's bank schedule (GROUPS copies, one address per bank).
module window_harness #(
    parameter integer P = 1, ENTRIES = 1, EAW = 1,
    parameter         ROM_FILE = "rom.mem",
    parameter integer W_X = 8, X_SIGNED = 1, WF = 8, W_W = 8, W_SIGNED = 1, CB = 0, CB_BITS = 1,
    parameter [(W_W << CB_BITS)-1:0] CODEBOOK = {(W_W << CB_BITS){1'b0}},
    parameter integer BIAS_W = 8, B_SIGNED = 1, W_ACC = 24, SHIFT_P = 0, SHIFT_B = 0,
    parameter integer AW_IN = 1, BW_IN = 1, W_OUT = 8, OUT_SIGNED = 1, RQ_SHIFT = 0,
    parameter integer RND = 0, OVF = 0, RELU = 0, AW_OUT = 1, IDENTITY = 0, MAX_MODE = 0,
    parameter integer IH = 1, IW = 1, OH = 1, OW = 1, KH = 1, KW = 1, SH = 1, SW = 1, PAD_T = 0, PAD_L = 0,
    parameter integer SLOTS_IN = 1, OFW = 1, KYW = 1, KXW = 1, YW = 8, XW = 8, BASE_W = 16,
    parameter integer N_SRC = 1, SRCW = 1,
    parameter [N_SRC*32-1:0] SLOTS_SRC = SLOTS_IN,
    parameter integer IN_BANKS = 1, BW_OUT = 1,
    parameter integer SHARED = 0, GROUPS = 1,
    parameter integer NRA = (SHARED != 0) ? GROUPS * IN_BANKS : P
) (
    input  wire              clk,
    input  wire              rst_n,
    // input buffer write port
    output wire              x_ready,        // every input buffer is free
    input  wire              x_commit,
    input  wire [SRCW-1:0]   x_src,
    input  wire              x_we,
    input  wire [BW_IN-1:0]  x_bank,
    input  wire [AW_IN-1:0]  x_waddr,
    input  wire [W_X-1:0]    x_wdata,
    // output buffer read port
    output wire              y_valid,
    input  wire              y_release,
    input  wire [BW_OUT-1:0] y_bank,
    input  wire [AW_OUT-1:0] y_addr,
    output wire [W_OUT-1:0]  y_data
);
    wire out_ready, out_commit;
    wire [N_SRC-1:0] in_valid, in_release, x_ready_s;
    wire [P*BW_IN-1:0] rbank;
    wire [NRA*AW_IN-1:0] raddr;
    wire [N_SRC*P*W_X-1:0] rdata;
    wire [P-1:0] we;
    wire [P*AW_OUT-1:0] waddr;
    wire [P*W_OUT-1:0] wdata;
    assign x_ready = &x_ready_s;
    genvar b, s;
    generate
        for (s = 0; s < N_SRC; s = s + 1) begin : g_src
            wire [IN_BANKS-1:0] x_we_b;
            wire mine = (x_src == s);
            for (b = 0; b < IN_BANKS; b = b + 1) begin : g_we
                assign x_we_b[b] = x_we && mine && (x_bank == b);
            end
            ff_act_mem #(.W(W_X), .BANKS(IN_BANKS), .RD_PORTS(P), .AW(AW_IN), .BW(BW_IN), .SHARED(SHARED),
                         .GROUPS(GROUPS)) u_x (
                .clk(clk), .rst_n(rst_n), .wr_ready(x_ready_s[s]), .wr_commit(x_commit && mine), .we(x_we_b),
                .waddr({IN_BANKS{x_waddr}}), .wdata({IN_BANKS{x_wdata}}), .rd_valid(in_valid[s]),
                .rd_release(in_release[s]), .rbank(rbank), .raddr(raddr), .rdata(rdata[s*P*W_X +: P*W_X]));
        end
    endgenerate
    ff_window #(
        .P(P), .ENTRIES(ENTRIES), .EAW(EAW), .ROM_FILE(ROM_FILE), .W_X(W_X), .X_SIGNED(X_SIGNED), .WF(WF),
        .W_W(W_W), .W_SIGNED(W_SIGNED), .CB(CB), .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK), .BIAS_W(BIAS_W),
        .B_SIGNED(B_SIGNED), .W_ACC(W_ACC), .SHIFT_P(SHIFT_P), .SHIFT_B(SHIFT_B), .AW_IN(AW_IN), .BW_IN(BW_IN),
        .W_OUT(W_OUT), .OUT_SIGNED(OUT_SIGNED), .RQ_SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF), .RELU(RELU),
        .AW_OUT(AW_OUT), .IDENTITY(IDENTITY), .MAX_MODE(MAX_MODE), .IH(IH), .IW(IW), .OH(OH), .OW(OW),
        .KH(KH), .KW(KW), .SH(SH), .SW(SW), .PAD_T(PAD_T), .PAD_L(PAD_L), .SLOTS_IN(SLOTS_IN), .OFW(OFW),
        .KYW(KYW), .KXW(KXW), .YW(YW), .XW(XW), .BASE_W(BASE_W), .N_SRC(N_SRC), .SRCW(SRCW),
        .SLOTS_SRC(SLOTS_SRC), .SHARED(SHARED), .GROUPS(GROUPS), .BANKS_IN(IN_BANKS)
    ) u_win (
        .clk(clk), .rst_n(rst_n), .in_valid(in_valid), .in_release(in_release), .rbank(rbank), .raddr(raddr),
        .rdata(rdata), .out_ready(out_ready), .out_commit(out_commit), .we(we), .waddr(waddr), .wdata(wdata));
    ff_act_mem #(.W(W_OUT), .BANKS(P), .RD_PORTS(1), .AW(AW_OUT), .BW(BW_OUT)) u_y (
        .clk(clk), .rst_n(rst_n), .wr_ready(out_ready), .wr_commit(out_commit), .we(we), .waddr(waddr),
        .wdata(wdata), .rd_valid(y_valid), .rd_release(y_release), .rbank(y_bank), .raddr(y_addr), .rdata(y_data));
endmodule
