// fpga-flow Verilog library: ff_window
//
// The window engine of one feature-map layer (convolution, pooling, per-channel scale, ReLU /
// requantization on a map) with P lanes. The input map (C_in, IH, IW) is held pixel-major in an
// ff_act_mem (channel ci of pixel q in bank chan_bank[ci] at address q*SLOTS_IN + chan_slot[ci]);
// the output map is written pixel-major too (output channel c of pixel p in bank row_lane[c] at
// address p*slots + row_slot[c]: each lane's running row ordinal, as ff_mac_lane counts it).
//
// For every output pixel (oy, ox) in raster order all lanes walk one shared ROM of ENTRIES words
// in lockstep (word k holds entry k of every lane, lane l in bits [l*WE_W +: WE_W]); every lane
// computes exactly `slots` rows per pixel (dummy rows fill the short lanes; entries past them are
// invalid padding words). A sample takes OH*OW*ENTRIES cycles plus the pipeline.
//
// ROM entry (LSB first): weight field [WF] (mantissa, or codebook code when CB != 0), tap offset
// [OFW] = (ky*IW + kx)*SLOTS_IN + chan_slot[ci], ky [KYW], kx [KXW], input bank [BW_IN], bias
// [BIAS_W] (meaningful on a row's first entry), first, last (row end), valid.
//
// Pipeline (one entry per lane per cycle):
//   S0 controller: entry counter k and the pixel counters, all incremental (no divider, no
//      multiplier): iy0 = oy*SH - PAD_T, ix0 = ox*SW - PAD_L and the pixel's base address
//      (iy0*IW + ix0)*SLOTS_IN, two's complement (negative in the top/left padding);
//      ROM word k and the pixel registered together.
//   A  address stage, per lane: address = base + offset; the tap is padding when
//      iy0 + ky is outside [0, IH) or ix0 + kx outside [0, IW) (only the checks the geometry
//      can need are built); the lane entry (ff_mac_lane format) and the padding bit registered.
//   S1..S5 ff_mac_lane: buffer read; the data of a padding tap is replaced, as it comes back
//      from the buffer, by PADV (0 for mac/sum, the smallest input value in max mode); product
//      (or x itself: IDENTITY / MAX_MODE), accumulate (or running max), requantize, write.
//
// Several inputs (N_SRC > 1: a residual add or a concatenation, a 1x1 sum window over the inputs'
// channels one after another): input s is its own ff_act_mem (its own banks, address width and
// SLOTS_SRC[s*32 +: 32] words per pixel), so the controller keeps one pixel base address per
// input, and every ROM entry names the input it reads in a field [SRCW] above valid. The address
// stage adds the entry's input's base; the lane drives every input's read port with that
// (bank, address) (the top takes each input's low bits: AW_IN / BW_IN are the widest inputs'),
// and the input field, registered with the padding bit, selects which input's read data the
// lane takes. rdata holds input s, lane l in bits [(s*P + l)*W_X +: W_X]. N_SRC = 1 is the
// single-input engine (no input field).
//
// Shared input (SHARED=1, a convolution reading a shared ff_act_mem, fpga_flow/hw/banking.py):
// the ROM walks the planner's conflict-free bank schedule of one output pixel (ENTRIES words:
// the lanes' entries plus bubbles, invalid words), and word k also holds, above the lanes'
// entries, the tap offset of every bank of every input copy (NRA = GROUPS * BANKS_IN fields of
// OFW bits, copy g bank b in field g*BANKS_IN + b). The address stage adds the pixel base to each
// and drives them onto raddr, registered with the lanes' entries; a lane's entry then holds only
// its bank select (its offset field is one unused bit) and ky / kx for the padding checks. Two
// lanes of a copy read one bank in one cycle only at one offset, hence at one address. N_SRC = 1.
//
// Handshake as ff_sparse_mac: start when every input buffer holds a sample (in_valid, one bit per
// input) and the output slot is free (out_ready); every in_release and out_commit pulse together
// with the last write.
// Cycles per sample (latency and initiation interval): 1 + OH*OW*ENTRIES + DRAIN, DRAIN = 6
// (the address stage + ff_mac_lane's 5).
module ff_window #(
    parameter integer P          = 1,
    parameter integer ENTRIES    = 1,    // ROM words per output pixel
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
    parameter integer IDENTITY   = 0,    // 1: every weight is 1 (sum: average pooling, ReLU/requant)
    parameter integer MAX_MODE   = 0,    // 1: running maximum (max pooling)
    // geometry
    parameter integer IH         = 1,    // input map height, width
    parameter integer IW         = 1,
    parameter integer OH         = 1,    // output map height, width
    parameter integer OW         = 1,
    parameter integer KH         = 1,    // kernel
    parameter integer KW         = 1,
    parameter integer SH         = 1,    // stride
    parameter integer SW         = 1,
    parameter integer PAD_T      = 0,    // top / left padding (bottom / right follow from OH, OW)
    parameter integer PAD_L      = 0,
    parameter integer SLOTS_IN   = 1,    // words per pixel in the input buffer
    parameter integer OFW        = 1,    // ROM field widths: tap offset, ky, kx
    parameter integer KYW        = 1,
    parameter integer KXW        = 1,
    parameter integer YW         = 8,    // signed widths of a row / column index and of an address
    parameter integer XW         = 8,
    parameter integer BASE_W     = 16,   // (room for the padding and a step past the map), <= 32
    // several inputs (a merge)
    parameter integer N_SRC      = 1,    // input buffers
    parameter integer SRCW       = 1,    // >= max(1, clog2(N_SRC)): the ROM's input field (N_SRC > 1)
    parameter [N_SRC*32-1:0] SLOTS_SRC = SLOTS_IN,  // words per pixel of input s in bits [s*32 +: 32]
    // a shared input (see above)
    parameter integer SHARED     = 0,
    parameter integer GROUPS     = 1,
    parameter integer BANKS_IN   = 1,
    parameter integer NRA        = (SHARED != 0) ? GROUPS * BANKS_IN : P   // read address fields
) (
    input  wire                  clk,
    input  wire                  rst_n,
    // input buffers (read side; every input gets the same rbank / raddr)
    input  wire [N_SRC-1:0]      in_valid,
    output wire [N_SRC-1:0]      in_release,
    output wire [P*BW_IN-1:0]    rbank,
    output wire [NRA*AW_IN-1:0]  raddr,
    input  wire [N_SRC*P*W_X-1:0] rdata,
    // output buffer (write side)
    input  wire                  out_ready,
    output wire                  out_commit,
    output wire [P-1:0]          we,
    output wire [P*AW_OUT-1:0]   waddr,
    output wire [P*W_OUT-1:0]    wdata
);
    localparam integer SRC_F = (N_SRC > 1) ? SRCW : 0;                    // the ROM's input field
    localparam integer LOFW = (SHARED != 0) ? 1 : OFW;                    // a lane entry's offset bits
    localparam integer WE_W = WF + LOFW + KYW + KXW + BW_IN + BIAS_W + 3 + SRC_F;  // lane entry
    localparam integer ROM_W = P*WE_W + ((SHARED != 0) ? NRA*OFW : 0);    // ROM word
    localparam integer LE_W = WF + AW_IN + BW_IN + BIAS_W + 3;             // ff_mac_lane entry
    localparam integer DRAIN = 6;
    localparam [31:0] DRAIN_LAST32 = DRAIN - 1;
    localparam [2:0] DRAIN_LAST = DRAIN_LAST32[2:0];
    localparam [31:0] LAST32 = ENTRIES - 1;
    localparam [EAW-1:0] LAST = LAST32[EAW-1:0];
    localparam [1:0] S_IDLE = 2'd0, S_RUN = 2'd1, S_DRAIN = 2'd2;

    // pixel walk constants (two's complement)
    localparam integer IY_LAST_I = (OH - 1) * SH - PAD_T;
    localparam integer IX_LAST_I = (OW - 1) * SW - PAD_L;
    localparam [31:0] IY0_32 = -PAD_T;
    localparam [31:0] IX0_32 = -PAD_L;
    localparam [31:0] IYL_32 = IY_LAST_I;
    localparam [31:0] IXL_32 = IX_LAST_I;
    localparam [31:0] SH_32 = SH;
    localparam [31:0] SW_32 = SW;
    localparam [31:0] IH_32 = IH;
    localparam [31:0] IW_32 = IW;
    localparam [YW-1:0] IY0 = IY0_32[YW-1:0];
    localparam [XW-1:0] IX0 = IX0_32[XW-1:0];
    localparam [YW-1:0] IY_LAST = IYL_32[YW-1:0];
    localparam [XW-1:0] IX_LAST = IXL_32[XW-1:0];
    localparam [YW-1:0] Y_STEP = SH_32[YW-1:0];
    localparam [XW-1:0] X_STEP = SW_32[XW-1:0];
    // which bounds a tap can cross (the others are not built)
    localparam integer CHK_Y = ((PAD_T > 0) || (IY_LAST_I + KH > IH)) ? 1 : 0;
    localparam integer CHK_X = ((PAD_L > 0) || (IX_LAST_I + KW > IW)) ? 1 : 0;
    // the value a padding tap reads
    localparam [W_X-1:0] PADV = ((MAX_MODE != 0) && (X_SIGNED != 0)) ? {1'b1, {(W_X - 1){1'b0}}}
                                                                     : {W_X{1'b0}};

    reg [ROM_W-1:0] rom [0:ENTRIES-1];
    initial $readmemh(ROM_FILE, rom);

    // ---- S0: controller and pixel counters
    reg [1:0]        state;
    reg [EAW-1:0]    k;
    reg [2:0]        dcnt;
    reg              s0_v, a_v;
    reg [YW-1:0]     iy0;
    reg [XW-1:0]     ix0;
    reg [ROM_W-1:0] rom_q;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [YW-1:0]     iy0_q;            // unused when no tap can cross a bound
    reg [XW-1:0]     ix0_q;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [N_SRC*BASE_W-1:0] base_q;    // input s's pixel base in bits [s*BASE_W +: BASE_W]

    wire start  = (state == S_IDLE) && (&in_valid) && out_ready;
    wire issue  = (state == S_RUN);
    wire done   = (state == S_DRAIN) && (dcnt == DRAIN_LAST);
    wire k_last = (k == LAST);
    wire x_last = (ix0 == IX_LAST);
    wire y_last = (iy0 == IY_LAST);
    assign in_release = {N_SRC{done}};
    assign out_commit = done;

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IDLE;
            k     <= {EAW{1'b0}};
            dcnt  <= 3'd0;
            s0_v  <= 1'b0;
            a_v   <= 1'b0;
        end else begin
            s0_v <= issue;
            a_v  <= s0_v;
            case (state)
                S_IDLE: if (start) begin
                    state <= S_RUN;
                    k     <= {EAW{1'b0}};
                end
                S_RUN: if (k_last) begin
                    k <= {EAW{1'b0}};
                    if (x_last && y_last) begin
                        state <= S_DRAIN;
                        dcnt  <= 3'd0;
                    end
                end else begin
                    k <= k + 1'b1;
                end
                default: if (done) state <= S_IDLE;
                         else dcnt <= dcnt + 3'd1;
            endcase
        end
    end

    always @(posedge clk) begin
        if (start) begin
            iy0   <= IY0;
            ix0   <= IX0;
        end else if (issue && k_last) begin
            if (x_last) begin          // next output row
                iy0   <= iy0 + Y_STEP;
                ix0   <= IX0;
            end else begin             // next pixel in the row
                ix0  <= ix0 + X_STEP;
            end
        end
        if (issue) begin
            iy0_q  <= iy0;
            ix0_q  <= ix0;
        end
    end

    // the pixel base address of every input (its own words per pixel)
    genvar s;
    generate
        for (s = 0; s < N_SRC; s = s + 1) begin : g_src
            localparam integer SLOTS_S = SLOTS_SRC[s*32 +: 32];
            localparam [31:0] B0_32 = -((PAD_T * IW + PAD_L) * SLOTS_S);
            localparam [31:0] ROW_32 = SH * IW * SLOTS_S;
            localparam [31:0] COL_32 = SW * SLOTS_S;
            localparam [BASE_W-1:0] B0 = B0_32[BASE_W-1:0];
            localparam [BASE_W-1:0] ROW_STEP = ROW_32[BASE_W-1:0];
            localparam [BASE_W-1:0] COL_STEP = COL_32[BASE_W-1:0];
            reg  [BASE_W-1:0] base, rbase, bq;
            wire [BASE_W-1:0] rbase_next = rbase + ROW_STEP;
            always @(posedge clk) begin
                if (start) begin
                    base  <= B0;
                    rbase <= B0;
                end else if (issue && k_last) begin
                    if (x_last) begin
                        rbase <= rbase_next;
                        base  <= rbase_next;
                    end else begin
                        base <= base + COL_STEP;
                    end
                end
                if (issue) bq <= base;
            end
            assign base_q[s*BASE_W +: BASE_W] = bq;
        end
    endgenerate

    always @(posedge clk) begin
        if (issue) rom_q <= rom[k];
    end

    // ---- A: per-lane address and padding (on a shared input: per bank), then the lanes
    wire [P*AW_IN-1:0] lane_raddr;
    genvar l, f;
    generate
        if (SHARED != 0) begin : g_shared
            reg [NRA*AW_IN-1:0] ra_q;
            for (f = 0; f < NRA; f = f + 1) begin : g_field
                wire [OFW-1:0] off = rom_q[P*WE_W + f*OFW +: OFW];
                /* verilator lint_off UNUSEDSIGNAL */
                wire [BASE_W-1:0] a = base_q + {{(BASE_W - OFW){1'b0}}, off};
                /* verilator lint_on UNUSEDSIGNAL */
                always @(posedge clk) ra_q[f*AW_IN +: AW_IN] <= a[AW_IN-1:0];
            end
            assign raddr = ra_q;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_lane_raddr = ^lane_raddr;
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_own
            assign raddr = lane_raddr;
        end
    endgenerate
    generate
        for (l = 0; l < P; l = l + 1) begin : g_lane
            wire [WE_W-1:0]   re     = rom_q[l*WE_W +: WE_W];
            wire [WF-1:0]     e_w    = re[0 +: WF];
            wire [LOFW-1:0]   e_off  = re[WF +: LOFW];
            /* verilator lint_off UNUSEDSIGNAL */
            wire [KYW-1:0]    e_ky   = re[WF + LOFW +: KYW];
            wire [KXW-1:0]    e_kx   = re[WF + LOFW + KYW +: KXW];
            /* verilator lint_on UNUSEDSIGNAL */
            wire [BW_IN-1:0]  e_bank = re[WF + LOFW + KYW + KXW +: BW_IN];
            wire [BIAS_W+2:0] e_rest = re[WF + LOFW + KYW + KXW + BW_IN +: BIAS_W + 3];  // bias, first, last, valid
            // the entry's input: its base address, and (registered with the padding bit) which
            // input's read data the lane takes
            wire [BASE_W-1:0] e_base;
            wire [W_X-1:0]    x_src;
            if (N_SRC > 1) begin : g_merge
                wire [SRCW-1:0] e_src = re[WE_W - SRCW +: SRCW];
                reg  [SRCW-1:0] src_q, src_d;
                always @(posedge clk) begin
                    src_q <= e_src;
                    src_d <= src_q;
                end
                assign e_base = base_q[e_src*BASE_W +: BASE_W];
                assign x_src  = rdata[(src_d*P + l)*W_X +: W_X];
            end else begin : g_one
                assign e_base = base_q;
                assign x_src  = rdata[l*W_X +: W_X];
            end
            /* verilator lint_off UNUSEDSIGNAL */
            wire [BASE_W-1:0] a_full = e_base + {{(BASE_W - LOFW){1'b0}}, e_off};
            /* verilator lint_on UNUSEDSIGNAL */
            wire pad_y, pad_x;
            if (CHK_Y != 0) begin : g_chk_y
                wire signed [YW-1:0] iy   = iy0_q + {{(YW - KYW){1'b0}}, e_ky};
                wire signed [YW-1:0] ih_s = IH_32[YW-1:0];
                assign pad_y = iy[YW-1] | (iy >= ih_s);
            end else begin : g_no_y
                assign pad_y = 1'b0;
            end
            if (CHK_X != 0) begin : g_chk_x
                wire signed [XW-1:0] ix   = ix0_q + {{(XW - KXW){1'b0}}, e_kx};
                wire signed [XW-1:0] iw_s = IW_32[XW-1:0];
                assign pad_x = ix[XW-1] | (ix >= iw_s);
            end else begin : g_no_x
                assign pad_x = 1'b0;
            end

            reg [LE_W-1:0] le_q;
            reg            pad_q, pad_d;
            always @(posedge clk) begin
                le_q  <= {e_rest, e_bank, a_full[AW_IN-1:0], e_w};
                pad_q <= pad_y | pad_x;
                pad_d <= pad_q;               // aligned with the buffer's read data
            end
            wire [W_X-1:0] x_in = pad_d ? PADV : x_src;

            ff_mac_lane #(
                .W_X(W_X), .X_SIGNED(X_SIGNED), .WF(WF), .W_W(W_W), .W_SIGNED(W_SIGNED),
                .CB(CB), .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK),
                .BIAS_W(BIAS_W), .B_SIGNED(B_SIGNED), .W_ACC(W_ACC), .SHIFT_P(SHIFT_P),
                .SHIFT_B(SHIFT_B), .AW_IN(AW_IN), .BW_IN(BW_IN), .W_OUT(W_OUT),
                .OUT_SIGNED(OUT_SIGNED), .RQ_SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF),
                .RELU(RELU), .AW_OUT(AW_OUT), .IDENTITY(IDENTITY), .MAX_MODE(MAX_MODE),
                .ENTRY_W(LE_W)
            ) u_lane (
                .clk(clk), .rst_n(rst_n), .start(start), .s1_v(a_v),
                .entry(le_q),
                .rbank(rbank[l*BW_IN +: BW_IN]), .raddr(lane_raddr[l*AW_IN +: AW_IN]),
                .x(x_in),
                .we(we[l]), .waddr(waddr[l*AW_OUT +: AW_OUT]), .wdata(wdata[l*W_OUT +: W_OUT])
            );
        end
    endgenerate
endmodule
