// fpga-flow Verilog library: ff_act_mem
//
// Double-buffered (ping-pong) activation memory between two pipeline stages, with the
// sample-level valid/ready handshake:
//   write side: the producer writes slot `wslot` while wr_ready (that slot is free), then
//               pulses wr_commit (the slot becomes full, the producer moves to the other slot);
//   read side:  the consumer reads slot `rslot` while rd_valid (that slot is full), then
//               pulses rd_release (the slot becomes free, the consumer moves to the other slot).
// So the producer works on sample n+1 while the consumer works on sample n.
//
// Storage is BANKS banks of 2^AW words per slot; each bank has one write port (producer lane b, or
// element b of an AXI beat). Every read port reads any (bank, addr) with one cycle of latency:
// each port has its own copy of every bank (1 write + 1 read port each: LUTRAM/BRAM friendly).
//
// Shared mode (SHARED=1, fpga_flow/hw/banking.py): GROUPS copies instead of one per port; read
// port p belongs to copy p / ceil(RD_PORTS / GROUPS). raddr holds one address per (copy, bank)
// (copy g, bank b in field g*BANKS + b): every bank of every copy is read at its own address each
// cycle, and port p selects bank rbank[p] of its copy (registered with the read: one cycle of
// latency, as above). The consumer's ROM schedules the reads so that two ports of a copy never
// need one bank at two addresses in one cycle. PORT_MAP=1: port p reads copy PORT_GROUP[p*16 +: 16]
// instead (the planner's choice of which lanes share a copy).
module ff_act_mem #(
    parameter integer W        = 8,
    parameter integer BANKS    = 1,
    parameter integer RD_PORTS = 1,
    parameter integer AW       = 1,   // address bits: a bank holds 2^AW words per slot
    parameter integer BW       = 1,   // >= max(1, clog2(BANKS))
    parameter integer SHARED   = 0,   // 1: GROUPS shared copies (see above)
    parameter integer GROUPS   = 1,
    parameter integer PORT_MAP = 0,   // 1: port p reads copy PORT_GROUP[p*16 +: 16] (shared mode)
    parameter [RD_PORTS*16-1:0] PORT_GROUP = {(RD_PORTS*16){1'b0}},
    // read address fields: one per port, or one per (copy, bank) in shared mode
    parameter integer NRA      = (SHARED != 0) ? GROUPS * BANKS : RD_PORTS
) (
    input  wire                   clk,
    input  wire                   rst_n,
    // write side
    output wire                   wr_ready,
    input  wire                   wr_commit,
    input  wire [BANKS-1:0]       we,
    input  wire [BANKS*AW-1:0]    waddr,
    input  wire [BANKS*W-1:0]     wdata,
    // read side
    output wire                   rd_valid,
    input  wire                   rd_release,
    input  wire [RD_PORTS*BW-1:0] rbank,
    input  wire [NRA*AW-1:0]      raddr,
    output wire [RD_PORTS*W-1:0]  rdata
);
    localparam integer NB = 1 << BW;
    localparam integer MD = 2 << AW;  // two slots of 2^AW words

    reg [1:0] full;
    reg       wslot;
    reg       rslot;
    assign wr_ready = ~full[wslot];
    assign rd_valid = full[rslot];

    always @(posedge clk) begin
        if (!rst_n) begin
            full  <= 2'b00;
            wslot <= 1'b0;
            rslot <= 1'b0;
        end else begin
            if (wr_commit) begin
                full[wslot] <= 1'b1;
                wslot <= ~wslot;
            end
            if (rd_release) begin
                full[rslot] <= 1'b0;
                rslot <= ~rslot;
            end
        end
    end

    // copies of the banks: one per group (shared) or one per read port; read port p uses copy p / PPG
    localparam integer NC  = (SHARED != 0) ? GROUPS : RD_PORTS;
    localparam integer PPG = (SHARED != 0) ? (RD_PORTS + GROUPS - 1) / GROUPS : 1;

    genvar p, b, g;
    generate
        wire [W-1:0] q_all [0:NC*NB-1];
        for (g = 0; g < NC; g = g + 1) begin : g_copy
            for (b = 0; b < NB; b = b + 1) begin : g_bank
                // the read address: per (copy, bank) when shared, the copy's own port's otherwise
                localparam integer RA = (SHARED != 0) ? g*BANKS + b : g;
                if (b < BANKS) begin : g_mem
                    reg [W-1:0] mem [0:MD-1];
                    reg [W-1:0] q;
                    always @(posedge clk) begin
                        if (we[b]) mem[{wslot, waddr[b*AW +: AW]}] <= wdata[b*W +: W];
                        q <= mem[{rslot, raddr[RA*AW +: AW]}];
                    end
                    assign q_all[g*NB + b] = q;
                end else begin : g_pad
                    assign q_all[g*NB + b] = {W{1'b0}};
                end
            end
        end
        for (p = 0; p < RD_PORTS; p = p + 1) begin : g_port
            localparam [15:0] MAPPED = PORT_GROUP[p*16 +: 16];
            localparam integer COPY = ((SHARED != 0) && (PORT_MAP != 0)) ? {16'd0, MAPPED} : p / PPG;
            localparam integer BASE = COPY * NB;  // the port's copy
            reg [BW-1:0] sel_q;
            wire [31:0] sel_w = {{(32 - BW){1'b0}}, sel_q};
            always @(posedge clk) sel_q <= rbank[p*BW +: BW];
            assign rdata[p*W +: W] = q_all[BASE + sel_w];
        end
    endgenerate
endmodule
