// fpga-flow Verilog library: ff_axis_pack
//
// Output activation buffer (an ff_act_mem) -> AXI4-Stream master. A ROM (ROM_FILE, $readmemh)
// holds, per beat, PER_BEAT element locations {valid, bank, addr} (element k in bits
// [k*(1+BW+AW) +: 1+BW+AW], addr lowest); invalid elements (the tail of the last beat) are sent
// as zeros. Beats are packed little-end first, TLAST on the last beat of each sample. A 4-deep
// output FIFO keeps one beat per cycle under TREADY backpressure; TVALID/TDATA/TLAST come from
// registers.
module ff_axis_pack #(
    parameter integer W        = 8,
    parameter integer PER_BEAT = 1,
    parameter integer BEATS    = 1,
    parameter integer TDATA_W  = 8,
    parameter integer AW       = 1,    // ff_act_mem address bits
    parameter integer BW       = 1,    // ff_act_mem bank bits
    parameter integer BEAT_AW  = 1,    // >= max(1, clog2(BEATS))
    parameter         ROM_FILE = "pack.mem"
) (
    input  wire                   clk,
    input  wire                   rst_n,
    // buffer read side
    input  wire                   rd_valid,
    output wire                   rd_release,
    output wire [PER_BEAT*BW-1:0] rbank,
    output wire [PER_BEAT*AW-1:0] raddr,
    input  wire [PER_BEAT*W-1:0]  rdata,
    // AXI4-Stream master
    output wire [TDATA_W-1:0]     m_tdata,
    output wire                   m_tvalid,
    input  wire                   m_tready,
    output wire                   m_tlast
);
    localparam integer EW = 1 + BW + AW;
    localparam [31:0] LAST32 = BEATS - 1;
    localparam [BEAT_AW-1:0] LAST = LAST32[BEAT_AW-1:0];
    localparam [1:0] S_IDLE = 2'd0, S_RUN = 2'd1, S_WAIT = 2'd2;

    reg [PER_BEAT*EW-1:0] rom [0:BEATS-1];
    initial $readmemh(ROM_FILE, rom);

    reg [1:0]         state;
    reg [BEAT_AW-1:0] beat;
    reg [2:0]         cnt;                 // FIFO occupancy 0..4
    reg               s1_v, s1_last, s2_v, s2_last;
    reg [PER_BEAT*EW-1:0] rom_q;
    reg [PER_BEAT-1:0]    s2_mask;

    wire [2:0] pending = cnt + {2'b00, s1_v} + {2'b00, s2_v};
    wire issue = (state == S_RUN) && (pending < 3'd4);
    assign rd_release = s1_v & s1_last;

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IDLE;
            beat  <= {BEAT_AW{1'b0}};
            s1_v  <= 1'b0;
            s2_v  <= 1'b0;
        end else begin
            s1_v <= issue;
            s2_v <= s1_v;
            case (state)
                S_IDLE: if (rd_valid) begin
                    state <= S_RUN;
                    beat  <= {BEAT_AW{1'b0}};
                end
                S_RUN: if (issue) begin
                    if (beat == LAST) state <= S_WAIT;
                    else beat <= beat + 1'b1;
                end
                default: state <= S_IDLE;   // S_WAIT: the last beat's read happens now
            endcase
        end
    end

    always @(posedge clk) begin
        if (issue) rom_q <= rom[beat];
        s1_last <= issue && (beat == LAST);
        s2_last <= s1_last;
    end

    // stage 1: element locations to the buffer read ports; stage 2: data back
    genvar k;
    wire [PER_BEAT-1:0] mask;
    wire [TDATA_W-1:0]  word;
    generate
        for (k = 0; k < PER_BEAT; k = k + 1) begin : g_elem
            assign raddr[k*AW +: AW] = rom_q[k*EW +: AW];
            assign rbank[k*BW +: BW] = rom_q[k*EW + AW +: BW];
            assign mask[k]           = rom_q[k*EW + AW + BW];
            assign word[k*W +: W]    = s2_mask[k] ? rdata[k*W +: W] : {W{1'b0}};
        end
        if (TDATA_W > PER_BEAT * W) begin : g_pad
            assign word[TDATA_W-1:PER_BEAT*W] = {(TDATA_W - PER_BEAT * W){1'b0}};
        end
    endgenerate
    always @(posedge clk) s2_mask <= mask;

    // 4-deep output FIFO
    reg [TDATA_W:0] fifo [0:3];
    reg [1:0] wp, rp;
    wire push = s2_v;
    wire pop  = m_tvalid & m_tready;
    assign m_tvalid = (cnt != 3'd0);
    assign m_tdata  = fifo[rp][TDATA_W-1:0];
    assign m_tlast  = fifo[rp][TDATA_W];
    always @(posedge clk) begin
        if (!rst_n) begin
            wp  <= 2'd0;
            rp  <= 2'd0;
            cnt <= 3'd0;
        end else begin
            if (push) begin
                fifo[wp] <= {s2_last, word};
                wp <= wp + 2'd1;
            end
            if (pop) rp <= rp + 2'd1;
            cnt <= cnt + {2'b00, push} - {2'b00, pop};
        end
    end
endmodule
