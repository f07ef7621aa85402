// fpga-flow Verilog library: ff_skip_mac
//
// Activation-skipping matrix-vector engine (EIE style, Han et al. 2016) of one fully-connected
// layer with P lanes: only the nonzero input activations are broadcast, and each lane walks only
// its weights of those columns. Rows are dealt to lanes as in ff_sparse_mac (lane l owns the
// rows of its SLOTS accumulator slots); each lane stores its nonzero weights column by column.
//
// Front end (the scan): the input buffer (an ff_act_mem in shared mode, one copy, one read port
// per bank, port b reading bank b) is read one address per cycle, all BANKS_IN banks at once:
// position (a, b) is bank b at address a, in the planner's order (fpga_flow/hw/skipping.py). Of
// the word's positions that hold an element some lane uses (the SCAN ROM, one mask bit per bank)
// and are nonzero, the BCAST lowest are broadcast each cycle, one per channel, as (position, x);
// a word with m such positions takes max(1, ceil(m / BCAST)) cycles. The broadcast stops while
// any lane FIFO holds DEPTH - 2 or more columns (the three broadcasts in flight then still fit).
//
// Lanes: each channel's position indexes its copy of the pointer ROM (one word per position, lane
// l's {count, start} in bits [l*(EAW+CW) +: EAW+CW]); a lane with count > 0 pushes {x, start,
// count} into its FIFO of that channel (DEPTH deep); its walker pops a column (from the lowest
// channel whose FIFO holds one: the accumulation is exact, so the order does not matter) and reads
// count entries of its entry ROM
// (ROM_PREFIX_eNNNN.mem for lane NNNN, entry = {slot, weight field}) one per cycle, back to back
// across columns. Each entry multiplies (registered) and adds into its slot's accumulator
// (distributed RAM, exact in W_ACC bits, zero at the start of a sample).
//
// Output: when the scan is over and every lane is idle, slot s of every lane is read in cycle s
// (SLOTS cycles), the bias (BIAS ROM, lane l's bias of slot s in bits [l*BIAS_W +: BIAS_W]) is
// added, ReLU + requantization (ff_requant) applied, and the result written to the lane's bank of
// the output buffer at address s; the slot is cleared for the next sample. Slots without a row
// write a value nobody reads.
//
// Handshake as ff_sparse_mac: start when the input buffer holds a sample (in_valid) and the output
// slot is free (out_ready); in_release when the last word has been scanned, out_commit with the
// last output write. Cycles per sample depend on the data: 1 (start) + scan (with stalls) +
// drain + SLOTS + 2; fpga_flow/hw/skipping.py models them cycle for cycle.
module ff_skip_mac #(
    parameter integer P          = 1,
    parameter integer BANKS_IN   = 1,    // input banks read per cycle (the buffer's banks)
    parameter integer SCAN       = 1,    // input addresses scanned
    parameter integer SAW        = 1,    // >= max(1, clog2(SCAN))
    parameter integer NPOS       = 1,    // SCAN * BANKS_IN
    parameter integer PAW        = 1,    // >= max(1, clog2(NPOS))
    parameter integer ENTRIES    = 1,    // entries of the longest lane
    parameter integer EAW        = 1,    // >= max(1, clog2(ENTRIES))
    parameter integer CW         = 2,    // count bits (a lane's entries in one column), at least 2
    parameter integer SLOTS      = 1,
    parameter integer SW         = 1,    // >= max(1, clog2(SLOTS)); the output buffer's AW_OUT
    parameter integer DEPTH      = 8,    // lane FIFO depth (a power of two, at least 4)
    parameter integer DW         = 3,    // clog2(DEPTH)
    parameter integer BCAST      = 1,    // nonzero inputs broadcast per cycle (one FIFO each per lane)
    parameter integer CSW        = 1,    // >= max(1, clog2(BCAST))
    parameter         ROM_PREFIX = "skip",
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
    parameter integer ROM_BLOCK  = 0     // 1: the pointer ROM carries rom_style = "block"
) (
    input  wire                     clk,
    input  wire                     rst_n,
    // input buffer (read side: one port per bank)
    input  wire                     in_valid,
    output wire                     in_release,
    output wire [BANKS_IN*BW_IN-1:0] rbank,
    output wire [BANKS_IN*AW_IN-1:0] raddr,
    input  wire [BANKS_IN*W_X-1:0]  rdata,
    // output buffer (write side)
    input  wire                     out_ready,
    output wire                     out_commit,
    output wire [P-1:0]             we,
    output wire [P*AW_OUT-1:0]      waddr,
    output wire [P*W_OUT-1:0]       wdata
);
    localparam integer PTR_W = EAW + CW;
    localparam integer ENT_W = WF + SW;
    localparam integer FW = W_X + EAW + CW;        // FIFO word: {x, start, count}
    localparam [2:0] S_IDLE = 3'd0, S_SCAN = 3'd1, S_DRAIN = 3'd2, S_OUT = 3'd3, S_FIN = 3'd4;
    localparam [31:0] SCAN_LAST32 = SCAN - 1;
    localparam [SAW-1:0] SCAN_LAST = SCAN_LAST32[SAW-1:0];
    localparam [31:0] SLOTS_LAST32 = SLOTS - 1;
    localparam [SW-1:0] SLOTS_LAST = SLOTS_LAST32[SW-1:0];
    localparam [31:0] AF32 = DEPTH - 2;
    localparam [DW:0] AF = AF32[DW:0];

    reg [2:0]         state;
    reg [SAW-1:0]     cur;          // the scan address whose word is on rdata
    reg [BANKS_IN-1:0] sent;        // positions of the current word already broadcast
    reg [SW-1:0]      os;           // output slot (SW == AW_OUT)
    reg               fcnt;
    wire              stall;        // some lane FIFO is almost full
    wire              all_idle;     // every lane idle, nothing in flight

    // ---- scan ROM: which positions of each word hold an element some lane uses
    reg [BANKS_IN-1:0] scan_rom [0:SCAN-1];
    initial $readmemh({ROM_PREFIX, "_scan.mem"}, scan_rom);
    reg [BANKS_IN-1:0] vmask_q;

    // ---- the current word's nonzero, used, not yet sent positions; the lowest is broadcast
    wire [BANKS_IN-1:0] nz;
    genvar b;
    generate
        for (b = 0; b < BANKS_IN; b = b + 1) begin : g_nz
            localparam [31:0] B32 = b;
            assign nz[b] = |rdata[b*W_X +: W_X];
            assign rbank[b*BW_IN +: BW_IN] = B32[BW_IN-1:0];
        end
    endgenerate
    wire [BANKS_IN-1:0] m = nz & vmask_q & ~sent;
    // the BCAST lowest of them: channel c takes the lowest bit of mc[c], mc[c+1] is what is left
    wire [BANKS_IN-1:0] mc [0:BCAST];
    wire [BCAST-1:0]       ch_v;
    wire [BCAST*BW_IN-1:0] ch_b;
    wire [BCAST*W_X-1:0]   ch_x;
    assign mc[0] = m;
    genvar c;
    generate
        for (c = 0; c < BCAST; c = c + 1) begin : g_pick
            wire [BANKS_IN-1:0] low = mc[c] & (~mc[c] + 1'b1);   // one-hot
            assign mc[c+1] = mc[c] & ~low;
            assign ch_v[c] = |mc[c];
            reg [BW_IN-1:0] lb;
            reg [W_X-1:0]   lx;
            integer i;
            always @* begin
                lb = {BW_IN{1'b0}};
                lx = {W_X{1'b0}};
                for (i = 0; i < BANKS_IN; i = i + 1) begin
                    if (low[i]) begin
                        lb = lb | i[BW_IN-1:0];
                        lx = lx | rdata[i*W_X +: W_X];
                    end
                end
            end
            assign ch_b[c*BW_IN +: BW_IN] = lb;
            assign ch_x[c*W_X +: W_X] = lx;
        end
    endgenerate
    wire none_left = (mc[BCAST] == {BANKS_IN{1'b0}});           // this cycle sends the rest

    wire scanning = (state == S_SCAN);
    wire emit     = scanning && !stall && (m != {BANKS_IN{1'b0}});
    wire word_end = scanning && !stall && none_left;         // the word is done this cycle
    wire scan_end = word_end && (cur == SCAN_LAST);
    wire advance  = word_end && (cur != SCAN_LAST);
    wire start    = (state == S_IDLE) && in_valid && out_ready;
    wire [SAW-1:0] ra = scanning ? (advance ? cur + 1'b1 : cur) : {SAW{1'b0}};
    wire [AW_IN-1:0] ra_in;
    generate
        if (AW_IN > SAW) begin : g_ra_wide
            assign ra_in = {{(AW_IN - SAW){1'b0}}, ra};
        end else begin : g_ra
            assign ra_in = ra[AW_IN-1:0];
        end
    endgenerate
    assign raddr = {BANKS_IN{ra_in}};
    assign in_release = scan_end;
    assign out_commit = (state == S_FIN) && fcnt;

    always @(posedge clk) vmask_q <= scan_rom[ra];

    // ---- broadcast registers, one per channel: (position, x)
    reg [BCAST-1:0]       bc_v;
    reg [BCAST*PAW-1:0]   bc_pos;
    reg [BCAST*W_X-1:0]   bc_x;
    localparam [31:0] BANKS32 = BANKS_IN;
    generate
        for (c = 0; c < BCAST; c = c + 1) begin : g_bc
            /* verilator lint_off UNUSEDSIGNAL */
            wire [31:0] pos_full = {{(32-SAW){1'b0}}, cur} * BANKS32 + {{(32-BW_IN){1'b0}}, ch_b[c*BW_IN +: BW_IN]};
            /* verilator lint_on UNUSEDSIGNAL */
            always @(posedge clk) begin
                if (!rst_n) bc_v[c] <= 1'b0;
                else bc_v[c] <= emit && ch_v[c];
                bc_pos[c*PAW +: PAW] <= pos_full[PAW-1:0];
                bc_x[c*W_X +: W_X]   <= ch_x[c*W_X +: W_X];
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IDLE;
            cur   <= {SAW{1'b0}};
            sent  <= {BANKS_IN{1'b0}};
            os    <= {SW{1'b0}};
            fcnt  <= 1'b0;
        end else begin
            case (state)
                S_IDLE: if (start) begin
                    state <= S_SCAN;
                    cur   <= {SAW{1'b0}};
                    sent  <= {BANKS_IN{1'b0}};
                end
                S_SCAN: begin
                    if (word_end) begin
                        sent <= {BANKS_IN{1'b0}};
                        if (advance) cur <= cur + 1'b1;
                        else state <= S_DRAIN;
                    end else if (emit) begin
                        sent <= sent | (m & ~mc[BCAST]);
                    end
                end
                S_DRAIN: if (all_idle) begin
                    state <= S_OUT;
                    os    <= {SW{1'b0}};
                end
                S_OUT: if (os == SLOTS_LAST) begin
                    state <= S_FIN;
                    fcnt  <= 1'b0;
                end else begin
                    os <= os + 1'b1;
                end
                default: if (fcnt) state <= S_IDLE;
                         else fcnt <= 1'b1;
            endcase
        end
    end

    // ---- pointer ROM, read with the broadcast (one copy per channel)
    reg [BCAST*P*PTR_W-1:0] ptr_q;
    reg [BCAST-1:0]         pv;
    reg [BCAST*W_X-1:0]     px;
    generate
        for (c = 0; c < BCAST; c = c + 1) begin : g_ptr
            if (ROM_BLOCK != 0) begin : g_prom_block
                (* rom_style = "block" *) reg [P*PTR_W-1:0] prom [0:NPOS-1];
                initial $readmemh({ROM_PREFIX, "_ptr.mem"}, prom);
                always @(posedge clk) if (bc_v[c]) ptr_q[c*P*PTR_W +: P*PTR_W] <= prom[bc_pos[c*PAW +: PAW]];
            end else begin : g_prom
                reg [P*PTR_W-1:0] prom [0:NPOS-1];
                initial $readmemh({ROM_PREFIX, "_ptr.mem"}, prom);
                always @(posedge clk) if (bc_v[c]) ptr_q[c*P*PTR_W +: P*PTR_W] <= prom[bc_pos[c*PAW +: PAW]];
            end
            always @(posedge clk) begin
                if (!rst_n) pv[c] <= 1'b0;
                else pv[c] <= bc_v[c];
                px[c*W_X +: W_X] <= bc_x[c*W_X +: W_X];
            end
        end
    endgenerate

    // ---- bias ROM, read in the output phase
    reg [P*BIAS_W-1:0] bias_rom [0:SLOTS-1];
    initial $readmemh({ROM_PREFIX, "_bias.mem"}, bias_rom);
    reg [P*BIAS_W-1:0] bias_q;
    reg                o1_v;
    reg [SW-1:0]       o1_s;
    wire               out_rd = (state == S_OUT);
    always @(posedge clk) begin
        bias_q <= bias_rom[os];
        o1_s   <= os;
        if (!rst_n) o1_v <= 1'b0;
        else o1_v <= out_rd;
    end

    // ---- lanes
    wire [P-1:0] lane_af, lane_idle;
    assign stall = |lane_af;
    assign all_idle = (&lane_idle) && (bc_v == {BCAST{1'b0}}) && (pv == {BCAST{1'b0}});

    localparam integer PW = W_X + W_W + 2;
    localparam integer WA0 = ((PW + SHIFT_P) > W_ACC) ? (PW + SHIFT_P) : W_ACC;
    localparam integer WA = WA0 + 1;
    localparam integer WB0 = ((BIAS_W + 1 + SHIFT_B) > W_ACC) ? (BIAS_W + 1 + SHIFT_B) : W_ACC;
    localparam integer WB = WB0 + 1;

    genvar l;
    generate
        for (l = 0; l < P; l = l + 1) begin : g_lane
            localparam integer N3 = 48 + (l / 1000) % 10;
            localparam integer N2 = 48 + (l / 100) % 10;
            localparam integer N1 = 48 + (l / 10) % 10;
            localparam integer N0 = 48 + l % 10;
            localparam [31:0] LNUM = {N3[7:0], N2[7:0], N1[7:0], N0[7:0]};

            // one FIFO of columns per broadcast channel; the walker takes the lowest channel holding one
            wire [BCAST-1:0]    f_empty, f_af, f_pop;
            wire [BCAST*FW-1:0] f_head;
            reg  [CSW-1:0]      sel;
            reg                 any_col;
            integer q;
            always @* begin
                sel = {CSW{1'b0}};
                any_col = 1'b0;
                for (q = BCAST - 1; q >= 0; q = q - 1) begin
                    if (!f_empty[q]) begin
                        sel = q[CSW-1:0];
                        any_col = 1'b1;
                    end
                end
            end
            wire [FW-1:0] head = f_head[sel*FW +: FW];
            assign lane_af[l] = |f_af;

            // walker
            reg           busy;
            reg [EAW-1:0] ptr;
            reg [CW-1:0]  rem;
            reg [W_X-1:0] xr;
            wire          last_one = busy && (rem == {{(CW-1){1'b0}}, 1'b1});
            wire          pop = any_col && (!busy || last_one);

            for (c = 0; c < BCAST; c = c + 1) begin : g_fifo
                wire [EAW-1:0] p_start = ptr_q[(c*P + l)*PTR_W +: EAW];
                wire [CW-1:0]  p_count = ptr_q[(c*P + l)*PTR_W + EAW +: CW];
                wire           push = pv[c] && (p_count != {CW{1'b0}});
                reg [FW-1:0] fifo [0:DEPTH-1];
                reg [DW-1:0] wp, rp;
                reg [DW:0]   occ;
                assign f_empty[c] = (occ == {(DW+1){1'b0}});
                assign f_af[c] = (occ >= AF);
                assign f_head[c*FW +: FW] = fifo[rp];
                assign f_pop[c] = pop && (sel == c[CSW-1:0]);
                always @(posedge clk) begin
                    if (push) fifo[wp] <= {px[c*W_X +: W_X], p_count, p_start};
                end
                always @(posedge clk) begin
                    if (!rst_n) begin
                        wp  <= {DW{1'b0}};
                        rp  <= {DW{1'b0}};
                        occ <= {(DW+1){1'b0}};
                    end else begin
                        if (push) wp <= wp + 1'b1;
                        if (f_pop[c]) rp <= rp + 1'b1;
                        occ <= occ + {{DW{1'b0}}, push} - {{DW{1'b0}}, f_pop[c]};
                    end
                end
            end

            always @(posedge clk) begin
                if (!rst_n) begin
                    busy <= 1'b0;
                end else begin
                    if (pop) begin
                        busy <= 1'b1;
                        ptr  <= head[EAW-1:0];
                        rem  <= head[EAW +: CW];
                        xr   <= head[EAW + CW +: W_X];
                    end else if (busy) begin
                        if (last_one) busy <= 1'b0;
                        ptr <= ptr + 1'b1;
                        rem <= rem - 1'b1;
                    end
                end
            end

            // entry ROM (registered read), then weight decode + product, then accumulate
            reg [ENT_W-1:0] erom [0:ENTRIES-1];
            initial $readmemh({ROM_PREFIX, "_e", LNUM, ".mem"}, erom);
            reg [ENT_W-1:0] e_q;
            reg             e1_v;
            reg [W_X-1:0]   e1_x;
            always @(posedge clk) begin
                if (busy) e_q <= erom[ptr];
                e1_x <= xr;
                if (!rst_n) e1_v <= 1'b0;
                else e1_v <= busy;
            end
            wire [WF-1:0] e_w = e_q[WF-1:0];
            wire [SW-1:0] e_slot = e_q[WF +: SW];
            wire [W_W-1:0] w_dec;
            if (CB != 0) begin : g_cb
                /* verilator lint_off UNUSEDSIGNAL */
                wire [WF-1:0] code_full = e_w;
                /* verilator lint_on UNUSEDSIGNAL */
                ff_codebook #(.W(W_W), .CB_BITS(CB_BITS), .CODEBOOK(CODEBOOK)) u_cb (
                    .code(code_full[CB_BITS-1:0]), .value(w_dec));
            end else begin : g_val
                assign w_dec = e_w[W_W-1:0];
            end
            wire signed [W_X:0] xs = {(X_SIGNED != 0) ? e1_x[W_X-1] : 1'b0, e1_x};
            wire signed [W_W:0] ws = {(W_SIGNED != 0) ? w_dec[W_W-1] : 1'b0, w_dec};
            wire signed [PW-1:0] xs_e = {{(PW - W_X - 1){xs[W_X]}}, xs};
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [PW-1:0] ws_e = {{(PW - W_W - 1){ws[W_W]}}, ws};
            /* verilator lint_on UNUSEDSIGNAL */
            reg signed [PW-1:0] prod;
            reg                 e2_v;
            reg [SW-1:0]        e2_slot;
            always @(posedge clk) begin
                prod    <= xs_e * ws_e;
                e2_slot <= e_slot;
                if (!rst_n) e2_v <= 1'b0;
                else e2_v <= e1_v;
            end
            assign lane_idle[l] = (&f_empty) && !busy && !e1_v && !e2_v;

            // accumulators: one per slot (distributed RAM), exact; cleared as the output reads them
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [WA-1:0] prod_w = {{(WA - PW){prod[PW-1]}}, prod} <<< SHIFT_P;
            /* verilator lint_on UNUSEDSIGNAL */
            reg signed [W_ACC-1:0] acc [0:SLOTS-1];
            integer s;
            initial begin
                for (s = 0; s < SLOTS; s = s + 1) acc[s] = {W_ACC{1'b0}};
            end
            reg signed [W_ACC-1:0] acc_q;
            always @(posedge clk) begin
                if (e2_v) acc[e2_slot] <= acc[e2_slot] + prod_w[W_ACC-1:0];
                else if (out_rd) acc[os] <= {W_ACC{1'b0}};
                acc_q <= acc[os];
            end

            // output: bias + accumulator -> ReLU + requantize -> write slot o1_s
            wire [BIAS_W-1:0] bias_l = bias_q[l*BIAS_W +: BIAS_W];
            /* verilator lint_off UNUSEDSIGNAL */
            wire        [BIAS_W:0] b_s = {(B_SIGNED != 0) ? bias_l[BIAS_W-1] : 1'b0, bias_l};
            wire signed [WB-1:0] bias_w = {{(WB - BIAS_W - 1){b_s[BIAS_W]}}, b_s} <<< SHIFT_B;
            /* verilator lint_on UNUSEDSIGNAL */
            wire signed [W_ACC-1:0] total = acc_q + bias_w[W_ACC-1:0];
            wire [W_OUT-1:0] rq;
            ff_requant #(
                .W_IN(W_ACC), .IN_SIGNED(1), .W_OUT(W_OUT), .OUT_SIGNED(OUT_SIGNED),
                .SHIFT(RQ_SHIFT), .RND(RND), .OVF(OVF), .RELU(RELU)
            ) u_rq (.din(total), .dout(rq));
            reg              o_we;
            reg [AW_OUT-1:0] o_addr;
            reg [W_OUT-1:0]  o_data;
            always @(posedge clk) begin
                if (!rst_n) o_we <= 1'b0;
                else o_we <= o1_v;
                o_addr <= o1_s;  // AW_OUT == SW
                o_data <= rq;
            end
            assign we[l] = o_we;
            assign waddr[l*AW_OUT +: AW_OUT] = o_addr;
            assign wdata[l*W_OUT +: W_OUT] = o_data;
        end
    endgenerate
endmodule
