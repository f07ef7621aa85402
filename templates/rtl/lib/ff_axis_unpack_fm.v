// fpga-flow Verilog library: ff_axis_unpack_fm
//
// AXI4-Stream slave -> the input feature map of a window engine (an ff_act_mem with one bank),
// pixel-major: the stream carries the (C, H, W) map in NCHW order (element j = c*PIX + q,
// PIX = H*W), packed little-end first (element k of a beat in TDATA[k*W +: W], as
// fpga_flow/stream.py packs them); element (c, q) is written at address q*C + c. One element
// per cycle; the address comes from counters (+C per element, the next channel's first
// address at a channel's end: no multiplier, no ROM). The sample is committed with its last
// element. Framing is by element count (TLAST is not needed).
//
// A beat is taken into a holding register (TREADY = the register is free, or its last element
// is being written this cycle), then shifted out one element per cycle while the buffer slot is
// free (wr_ready). TREADY does not depend on TVALID. The first beat of a sample is not taken in
// the cycle that writes the previous sample's last element, so a sample takes exactly N + 1
// cycles from its first beat to its commit + 1, back to back (N = C*PIX elements): latency and
// initiation interval N + 1.
module ff_axis_unpack_fm #(
    parameter integer W        = 8,
    parameter integer PER_BEAT = 1,
    parameter integer TDATA_W  = 8,
    parameter integer C        = 1,    // channels
    parameter integer PIX      = 1,    // pixels per channel (H*W)
    parameter integer AW       = 1,    // ff_act_mem address bits, 2^AW >= C*PIX
    parameter integer KBW      = 1,    // >= max(1, clog2(PER_BEAT))
    parameter integer PXW      = 1     // >= max(1, clog2(PIX))
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
    output wire [0:0]             we,
    output wire [AW-1:0]          waddr,
    output wire [W-1:0]           wdata
);
    localparam integer HW_ = PER_BEAT * W;
    localparam [31:0] K_LAST32 = PER_BEAT - 1;
    localparam [31:0] P_LAST32 = PIX - 1;
    localparam [31:0] C32 = C;
    localparam [KBW-1:0] K_LAST = K_LAST32[KBW-1:0];
    localparam [PXW-1:0] P_LAST = P_LAST32[PXW-1:0];
    localparam [AW-1:0]  C_AW   = C32[AW-1:0];
    localparam [AW-1:0]  ONE_AW = {{(AW - 1){1'b0}}, 1'b1};

    reg            hv;                  // the holding register has elements left
    reg [HW_-1:0]  hold;                // element 0 of what is left in bits [W-1:0]
    reg [KBW-1:0]  k;                   // element of the held beat
    reg [PXW-1:0]  pix;                 // pixel of the current element
    reg [AW-1:0]   addr;                // its address
    reg [AW-1:0]   cnext;               // the next channel's index = its first address

    wire pix_last  = (pix == P_LAST);
    wire ch_last   = (cnext == C_AW);
    wire s_last    = pix_last & ch_last;
    wire wr        = hv & wr_ready;
    wire beat_end  = wr & ((k == K_LAST) | s_last);
    assign s_tready  = ~hv | (beat_end & ~s_last);
    wire take      = s_tvalid & s_tready;

    assign we        = wr;
    assign waddr     = addr;
    assign wdata     = hold[W-1:0];
    assign wr_commit = wr & s_last;

    always @(posedge clk) begin
        if (!rst_n) begin
            hv    <= 1'b0;
            k     <= {KBW{1'b0}};
            pix   <= {PXW{1'b0}};
            addr  <= {AW{1'b0}};
            cnext <= ONE_AW;
        end else begin
            if (take) begin
                hv <= 1'b1;
                k  <= {KBW{1'b0}};
            end else if (beat_end) begin
                hv <= 1'b0;
            end else if (wr) begin
                k <= k + 1'b1;
            end
            if (wr) begin
                if (s_last) begin
                    pix   <= {PXW{1'b0}};
                    addr  <= {AW{1'b0}};
                    cnext <= ONE_AW;
                end else if (pix_last) begin
                    pix   <= {PXW{1'b0}};
                    addr  <= cnext;
                    cnext <= cnext + ONE_AW;
                end else begin
                    pix  <= pix + 1'b1;
                    addr <= addr + C_AW;
                end
            end
        end
    end

    always @(posedge clk) begin
        if (take) hold <= s_tdata[HW_-1:0];
        else if (wr) hold <= hold >> W;
    end
endmodule
