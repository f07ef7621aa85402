// Test harness: ff_axis_unpack -> ff_act_mem -> ff_axis_pack with the contract-4 ports, so the
// generic cocotb bench checks the stream blocks against fpga_flow/stream.py (output = input).
module stream_loopback #(
    parameter integer W        = 8,
    parameter integer N        = 8,
    parameter integer PER_BEAT = 8,
    parameter integer BEATS    = 1,
    parameter integer TDATA_W  = 64,
    parameter integer AW       = 1,
    parameter integer BW       = 3,
    parameter integer BEAT_AW  = 1,
    parameter         ROM_FILE = "pack.mem"
) (
    input  wire               ap_clk,
    input  wire               ap_rst_n,
    input  wire [TDATA_W-1:0] in_r_TDATA,
    input  wire               in_r_TVALID,
    output wire               in_r_TREADY,
    input  wire               in_r_TLAST,
    output wire [TDATA_W-1:0] out_r_TDATA,
    output wire               out_r_TVALID,
    input  wire               out_r_TREADY,
    output wire               out_r_TLAST
);
    wire wr_ready, wr_commit, rd_valid, rd_release;
    wire [PER_BEAT-1:0] we;
    wire [PER_BEAT*AW-1:0] waddr, raddr;
    wire [PER_BEAT*W-1:0] wdata, rdata;
    wire [PER_BEAT*BW-1:0] rbank;
    ff_axis_unpack #(.W(W), .PER_BEAT(PER_BEAT), .BEATS(BEATS), .TDATA_W(TDATA_W), .AW(AW)) u_in (
        .clk(ap_clk), .rst_n(ap_rst_n), .s_tdata(in_r_TDATA), .s_tvalid(in_r_TVALID), .s_tready(in_r_TREADY),
        .s_tlast(in_r_TLAST), .wr_ready(wr_ready), .wr_commit(wr_commit), .we(we), .waddr(waddr), .wdata(wdata));
    ff_act_mem #(.W(W), .BANKS(PER_BEAT), .RD_PORTS(PER_BEAT), .AW(AW), .BW(BW)) u_mem (
        .clk(ap_clk), .rst_n(ap_rst_n), .wr_ready(wr_ready), .wr_commit(wr_commit), .we(we), .waddr(waddr),
        .wdata(wdata), .rd_valid(rd_valid), .rd_release(rd_release), .rbank(rbank), .raddr(raddr), .rdata(rdata));
    ff_axis_pack #(.W(W), .PER_BEAT(PER_BEAT), .BEATS(BEATS), .TDATA_W(TDATA_W), .AW(AW), .BW(BW),
                   .BEAT_AW(BEAT_AW), .ROM_FILE(ROM_FILE)) u_out (
        .clk(ap_clk), .rst_n(ap_rst_n), .rd_valid(rd_valid), .rd_release(rd_release), .rbank(rbank),
        .raddr(raddr), .rdata(rdata), .m_tdata(out_r_TDATA), .m_tvalid(out_r_TVALID), .m_tready(out_r_TREADY),
        .m_tlast(out_r_TLAST));
    /* verilator lint_off UNUSEDPARAM */
    localparam integer UNUSED_N = N;
    /* verilator lint_on UNUSEDPARAM */
endmodule
