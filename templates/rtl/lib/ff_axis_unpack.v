// fpga-flow Verilog library: ff_axis_unpack
//
// AXI4-Stream slave -> input activation buffer (an ff_act_mem with BANKS banks, a multiple of
// PER_BEAT). Elements are packed little-end first (element k of a beat in TDATA[k*W +: W], as
// fpga_flow/stream.py packs them); element j of a sample lands in bank j % BANKS at address
// j / BANKS: beat t writes banks (t % R) * PER_BEAT ... + PER_BEAT - 1 at address t / R,
// R = BANKS / PER_BEAT. One beat per cycle; the sample is committed after BEATS beats. Framing is
// by beat count: TLAST (the last beat of a sample, by contract) is not needed to find it.
module ff_axis_unpack #(
    parameter integer W        = 8,
    parameter integer PER_BEAT = 1,
    parameter integer BEATS    = 1,
    parameter integer TDATA_W  = 8,
    parameter integer AW       = 1,   // ff_act_mem address bits, 2^AW >= ceil(BEATS / R)
    parameter integer BANKS    = PER_BEAT
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
    output wire [BANKS-1:0]       we,
    output wire [BANKS*AW-1:0]    waddr,
    output wire [BANKS*W-1:0]     wdata
);
    localparam integer R = BANKS / PER_BEAT;  // beats per address
    wire hs = s_tvalid & wr_ready;
    wire last;

    assign s_tready  = wr_ready;
    assign wr_commit = hs & last;

    generate
        if (R == 1) begin : g_direct
            localparam [31:0] LAST32 = BEATS - 1;
            reg [AW-1:0] beat;
            assign last  = (beat == LAST32[AW-1:0]);
            assign we    = {BANKS{hs}};
            assign waddr = {BANKS{beat}};
            assign wdata = s_tdata[PER_BEAT*W-1:0];
            always @(posedge clk) begin
                if (!rst_n) beat <= {AW{1'b0}};
                else if (hs) beat <= last ? {AW{1'b0}} : beat + 1'b1;
            end
        end else begin : g_rows
            // beat t: bank group u = t % R, address row = t / R (counters, no divider)
            localparam integer BCW = (BEATS <= 2) ? 1 : $clog2(BEATS);
            localparam integer UW = (R <= 2) ? 1 : $clog2(R);
            localparam [31:0] LAST32 = BEATS - 1;
            localparam [31:0] RL32 = R - 1;
            reg [BCW-1:0] beat;
            reg [UW-1:0]  u;
            reg [AW-1:0]  row;
            assign last = (beat == LAST32[BCW-1:0]);
            always @(posedge clk) begin
                if (!rst_n || (hs && last)) begin
                    beat <= {BCW{1'b0}};
                    u    <= {UW{1'b0}};
                    row  <= {AW{1'b0}};
                end else if (hs) begin
                    beat <= beat + 1'b1;
                    if (u == RL32[UW-1:0]) begin
                        u   <= {UW{1'b0}};
                        row <= row + 1'b1;
                    end else begin
                        u <= u + 1'b1;
                    end
                end
            end
            genvar b;
            for (b = 0; b < BANKS; b = b + 1) begin : g_bank
                localparam [31:0] U32 = b / PER_BEAT;
                assign we[b] = hs && (u == U32[UW-1:0]);
                assign waddr[b*AW +: AW] = row;
                assign wdata[b*W +: W] = s_tdata[(b % PER_BEAT)*W +: W];
            end
        end
    endgenerate
endmodule
