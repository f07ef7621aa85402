// fpga-flow Verilog library: ff_axis_unpack
//
// AXI4-Stream slave -> input activation buffer (an ff_act_mem with PER_BEAT banks).
// Elements are packed little-end first (element k of a beat in TDATA[k*W +: W], as
// fpga_flow/stream.py packs them); element j of a sample lands in bank j % PER_BEAT at address
// j / PER_BEAT. One beat per cycle; the sample is committed after BEATS beats. Framing is by
// beat count: TLAST (the last beat of a sample, by contract) is not needed to find it.
module ff_axis_unpack #(
    parameter integer W        = 8,
    parameter integer PER_BEAT = 1,
    parameter integer BEATS    = 1,
    parameter integer TDATA_W  = 8,
    parameter integer AW       = 1    // ff_act_mem address bits, 2^AW >= BEATS
) (
    input  wire                   clk,
    input  wire                   rst_n,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [TDATA_W-1:0]     s_tdata,   // bits above PER_BEAT*W are padding
    input  wire                   s_tlast,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire                   s_tvalid,
    output wire                   s_tready,
    // buffer write side
    input  wire                   wr_ready,
    output wire                   wr_commit,
    output wire [PER_BEAT-1:0]    we,
    output wire [PER_BEAT*AW-1:0] waddr,
    output wire [PER_BEAT*W-1:0]  wdata
);
    localparam [31:0] LAST32 = BEATS - 1;
    localparam [AW-1:0] LAST = LAST32[AW-1:0];
    reg  [AW-1:0] beat;
    wire hs   = s_tvalid & wr_ready;
    wire last = (beat == LAST);

    assign s_tready  = wr_ready;
    assign wr_commit = hs & last;
    assign we        = {PER_BEAT{hs}};
    assign waddr     = {PER_BEAT{beat}};
    assign wdata     = s_tdata[PER_BEAT*W-1:0];

    always @(posedge clk) begin
        if (!rst_n) beat <= {AW{1'b0}};
        else if (hs) beat <= last ? {AW{1'b0}} : beat + 1'b1;
    end
endmodule
