// yq_fold_conv: the folded engine's convolution unit. Runs one k x k convolution (stride S,
// padding PAD reading PADV) described by the layer descriptor on the shared P-lane MAC array.
//
// Loop order (weights fetched once): for each group of P output channels, for each weight
// chunk (CPC input channels, TC = CPC*K*K taps, held in one slot of the double-buffered weight
// buffer while the loader fills the other), for each output pixel (row-major): issue the
// chunk's taps one per cycle (channel, kernel row, kernel column), wait for the MAC array,
// then drain the P lanes:
//   - one chunk (MODE_ONE): bias, requantize, optional SiLU table, write the code; one lane per
//     cycle through a 7-stage pipeline (bias; shift; rounding and zero point; clamp; table;
//     write), so no stage holds more than one wide add or the shifter;
//   - several chunks: the first chunk writes the partial sums (2 words per lane) to the psum
//     region, middle chunks read, add and write them back, the last chunk reads them, adds,
//     and sends the lane through the same requantizer pipeline.
// The activation memory is single-ported: reads, writes and psum traffic take turns, so the
// schedule is a pure function of the descriptor (see src/rtl/folded/cycles.rs).
//
// Arithmetic (docs/quantization.md): the MAC array multiplies signed codes x - OFFSET by the
// weights; the loader's biases already include OFFSET * sum(w), so the sum equals the spec's
// accumulator. y = clamp(rshift_round(acc + bias, sh) + ZERO, 0, QMAX), then LUT[y] if the
// layer has a SiLU table. A negative sh shifts left.
module yq_fold_conv #(
    parameter AB = 17,           // byte address width of the activation memory
    parameter P = 16,            // MAC lanes
    parameter LW = 4,            // lane index width (P = 2^LW)
    parameter WTW = 8,           // tap index width of one weight slot
    parameter ACC_W = 32,
    parameter BIAS_W = 32,
    parameter SH_W = 40,         // requantizer width
    parameter RSH_W = 6,         // bits of the largest right shift
    parameter LSH_W = 1,         // bits of the largest left shift
    parameter LSH_EN = 1,        // 0: no layer shifts left
    parameter OFFSET = 128,
    parameter CW = 16            // dimension width
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    // descriptor fields (stable while the layer runs)
    input wire [CW-1:0] d_hp, input wire [CW-1:0] d_wp, input wire [CW-1:0] d_ho_m1, input wire [CW-1:0] d_wo_m1,
    input wire [7:0] d_k_m1, input wire [7:0] d_s, input wire [7:0] d_pad, input wire [7:0] d_padt, input wire [7:0] d_padv,
    input wire [AB-1:0] d_pix0, input wire [AB-1:0] d_out, input wire [AB-1:0] d_psum,
    input wire [CW-1:0] d_g, input wire [7:0] d_nch_m1, input wire [CW-1:0] d_tc_m1, input wire [CW-1:0] d_tc_last_m1,
    input wire [7:0] d_lanes_last, input wire [AB-1:0] d_rowstep, input wire [AB-1:0] d_chstep,
    input wire [AB-1:0] d_chunkstep, input wire [AB-1:0] d_sw, input wire [AB-1:0] d_gstep, input wire [AB-1:0] d_howo,
    input wire [7:0] d_zero, input wire [7:0] d_qmax, input wire d_has_lut,
    // loader handshake: chunks of this layer fully loaded / fully used
    input wire [CW-1:0] loaded,
    output reg [CW-1:0] consumed,
    // memory port (byte address; wide = 16-bit word at an even address)
    output wire m_rd, output wire m_wr, output wire m_wide,
    output wire [AB-1:0] m_addr, output wire [15:0] m_wdata,
    input wire [7:0] m_rbyte, input wire [15:0] m_rword,
    // weight buffer (registered read), parameter buffer (registered read), SiLU table
    output wire [WTW:0] wb_addr, input wire [P*8-1:0] wb_data,
    output wire [LW:0] pb_addr, input wire [BIAS_W+7:0] pb_data,
    output wire [7:0] lut_addr, input wire [7:0] lut_data,
    // MAC array
    output reg mac_en, output reg mac_first, output reg mac_last,
    output reg signed [7:0] mac_act, output reg [P*8-1:0] mac_w,
    input wire [P*ACC_W-1:0] mac_acc, input wire mac_valid
);
    localparam [3:0] S_IDLE = 4'd0, S_WAITW = 4'd1, S_TAPS = 4'd2, S_WMAC = 4'd3,
                     S_DRAIN = 4'd4, S_PSR = 4'd5, S_FLUSH = 4'd6, S_NEXT = 4'd7;
    localparam [8:0] OFF9 = OFFSET;
    localparam [AB-1:0] P2 = 2 * P;
    localparam [AB-1:0] ONE_A = 1;

    reg [3:0] state;
    reg [CW-1:0] og, t, kx, ky, ox, oy, oxs, oys, tc;
    reg [7:0] ch;
    // cpix0: the chunk's first window (d_pix0 + the chunk's channel offset); pix_row, pix_in:
    // the output row's and pixel's window in the chunk; the tap reads pix_in + tap_off (one
    // adder before the memory port)
    reg [AB-1:0] tap_off, cpix0, pix_in, pix_row, gbase, opix, psa;
    wire row_end = (ox == d_wo_m1);
    // the next pixel's window (S_NEXT)
    wire [AB-1:0] pix_next = row_end ? pix_row + d_sw : pix_in + {{(AB-8){1'b0}}, d_s};
    reg slot;
    reg [7:0] nlanes;
    // chunk flags, registered (they steer the psum address on its way to the memory port)
    reg last_chunk, one_chunk;
    wire [CW-1:0] km1 = {{(CW-8){1'b0}}, d_k_m1};
    // the tap's input row and column, oys + ky and oxs + kx, kept in step with the counters
    // (registers: no adder before the padding test on the way to the memory port)
    reg [CW-1:0] iy, ix;
    wire [CW-1:0] padw = {{(CW-8){1'b0}}, d_pad};
    wire [CW-1:0] padtw = {{(CW-8){1'b0}}, d_padt};
    // d_hp, d_wp: the window's far edges (height/width plus padding, from the descriptor)
    wire pad = (iy < padtw) || (iy >= d_hp) || (ix < padw) || (ix >= d_wp);
    wire tap_issue = (state == S_TAPS);
    wire last_tap = (t == tc);   // tc: the chunk's last tap index
    wire last_px = row_end && (oy == d_ho_m1);

    // ---- drain control ------------------------------------------------------------------
    // dl: lane being drained; dph: phase inside a lane for the psum modes.
    reg [LW:0] dl;
    reg [3:0] dph;
    reg [15:0] plo;
    // lane dl's sum (a mux tree over the lanes, whatever ACC_W is)
    wire [ACC_W-1:0] acc_lanes [0:P-1];
    genvar gl;
    generate
        for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
            assign acc_lanes[gl] = mac_acc[gl*ACC_W +: ACC_W];
        end
    endgenerate
    wire signed [ACC_W-1:0] acc_l = acc_lanes[dl[LW-1:0]];
    // requantizer pipeline input
    reg q_v;
    reg signed [ACC_W-1:0] q_a;
    wire [7:0] dl8 = {{(7 - LW){1'b0}}, dl};
    wire lane_end_one = (dl8 == nlanes - 8'd1);

    // psum word address of lane dl at this pixel (psa + 2*dl), stepped with dl; the psum
    // region is 4-byte aligned, so the high word's byte address only sets bit 1
    reg [AB-1:0] ps_addr;
    reg ps_rd_lo, ps_rd_hi, ps_wr_lo, ps_wr_hi;
    always @(*) begin
        ps_rd_lo = 1'b0; ps_rd_hi = 1'b0; ps_wr_lo = 1'b0; ps_wr_hi = 1'b0;
        if (state == S_PSR) begin
            if (ch == 8'd0) begin
                ps_wr_lo = (dph == 4'd0); ps_wr_hi = (dph == 4'd1);
            end else begin
                ps_rd_lo = (dph == 4'd0); ps_rd_hi = (dph == 4'd1);
                ps_wr_lo = !last_chunk && (dph == 4'd3); ps_wr_hi = !last_chunk && (dph == 4'd4);
            end
        end
    end
    reg signed [ACC_W-1:0] ps_hold;
    wire [31:0] ps_in = {m_rword, plo};
    // partial sums are stored as 32-bit words
    wire [31:0] acc32 = {{(32-ACC_W){acc_l[ACC_W-1]}}, acc_l};
    wire [31:0] hold32 = {{(32-ACC_W){ps_hold[ACC_W-1]}}, ps_hold};
    wire [15:0] ps_wdata = (ch == 8'd0) ? (dph == 4'd0 ? acc32[15:0] : acc32[31:16])
                                        : (dph == 4'd3 ? hold32[15:0] : hold32[31:16]);

    // code write from the requantizer pipeline tail
    wire cw_en;
    wire [AB-1:0] cw_addr;
    wire [7:0] cw_data;

    // A padding tap reads too (its code is replaced by the padding value a cycle later, from
    // the registered `pad1`): the padding test stays off the memory's enable.
    wire rd_tap = tap_issue;
    assign m_rd = rd_tap || ps_rd_lo || ps_rd_hi;
    assign m_wr = cw_en || ps_wr_lo || ps_wr_hi;
    assign m_wide = ps_rd_lo || ps_rd_hi || ps_wr_lo || ps_wr_hi;
    wire [AB-1:0] a_ps = {ps_addr[AB-2:1], ps_rd_hi || ps_wr_hi, 1'b0};
    wire [AB-1:0] a_tap = pix_in + tap_off;
    // The address is steered by the state alone (not by the padding test or the strobes:
    // the memory ignores it in cycles without a read or write), and is 0 while the unit is
    // idle, for the core's OR of the units' ports.
    wire [AB-1:0] a_any = tap_issue ? a_tap : (cw_en ? cw_addr : a_ps);
    assign m_addr = (state != S_IDLE) ? a_any : {AB{1'b0}};
    assign m_wdata = cw_en ? {8'd0, cw_data} : ((ps_wr_lo || ps_wr_hi) ? ps_wdata : 16'd0);
    assign wb_addr = {slot, t[WTW-1:0]};
    reg [LW-1:0] q_lane;
    assign pb_addr = {og[0], q_lane};

    // ---- issue + drain state machine ----------------------------------------------------
    always @(posedge clk) begin
        done <= 1'b0;
        q_v <= 1'b0;
        if (rst) begin
            state <= S_IDLE; consumed <= 0;
        end else begin
            case (state)
            S_IDLE: if (go) begin
                state <= S_WAITW; og <= 0; ch <= 0; consumed <= 0; slot <= 1'b0;
                cpix0 <= d_pix0; gbase <= d_out; opix <= d_out;
                nlanes <= (d_g == 1) ? d_lanes_last : P[7:0];
                one_chunk <= (d_nch_m1 == 8'd0); last_chunk <= (d_nch_m1 == 8'd0);
            end
            S_WAITW: if (loaded > consumed) begin
                state <= S_TAPS;
                tc <= last_chunk ? d_tc_last_m1 : d_tc_m1;
                t <= 0; kx <= 0; ky <= 0; tap_off <= 0;
                ox <= 0; oy <= 0; oxs <= 0; oys <= 0; ix <= 0; iy <= 0;
                pix_in <= cpix0; pix_row <= cpix0; opix <= gbase; psa <= d_psum;
            end
            S_TAPS: begin
                t <= t + 1'b1;
                if (kx != km1) begin
                    kx <= kx + 1'b1; tap_off <= tap_off + ONE_A; ix <= ix + 1'b1;
                end else if (ky != km1) begin
                    kx <= 0; ky <= ky + 1'b1; tap_off <= tap_off + d_rowstep; ix <= oxs; iy <= iy + 1'b1;
                end else begin
                    kx <= 0; ky <= 0; tap_off <= tap_off + d_chstep; ix <= oxs; iy <= oys;
                end
                if (last_tap) state <= S_WMAC;
            end
            S_WMAC: if (mac_valid) begin
                dl <= 0; dph <= 0; ps_addr <= psa;
                state <= one_chunk ? S_DRAIN : S_PSR;
            end
            S_DRAIN: begin
                // one lane per cycle into the requantizer pipeline
                q_v <= 1'b1; q_a <= acc_l; q_lane <= dl[LW-1:0];
                dl <= dl + 1'b1;
                if (lane_end_one) state <= S_FLUSH;
            end
            S_PSR: begin
                dph <= dph + 1'b1;
                if (dph == 4'd1) plo <= m_rword;           // lo word arrived
                if (dph == 4'd2) begin                     // hi word arrived
                    ps_hold <= acc_l + ps_in[ACC_W-1:0];
                end
                if (ch != 8'd0 && last_chunk && dph == 4'd3) begin
                    q_v <= 1'b1; q_a <= ps_hold; q_lane <= dl[LW-1:0];
                end
                // lane end: first chunk after 2 writes, middle after 5 phases, last after
                // the lane has left the requantizer (4 + pipeline depth)
                if ((ch == 8'd0 && dph == 4'd1) || (!last_chunk && ch != 8'd0 && dph == 4'd4)
                    || (last_chunk && ch != 8'd0 && dph == 4'd10)) begin
                    dph <= 0; dl <= dl + 1'b1; ps_addr <= ps_addr + (ONE_A << 1);
                    if (dl8 == nlanes - 8'd1) state <= S_NEXT;
                end
            end
            S_FLUSH: if (!q_busy) state <= S_NEXT;
            S_NEXT: begin
                // next pixel, next chunk or next group
                t <= 0; kx <= 0; ky <= 0; tap_off <= 0;
                if (!last_px) begin
                    state <= S_TAPS;
                    opix <= opix + ONE_A; psa <= psa + P2;
                    pix_in <= pix_next;
                    if (!row_end) begin
                        ox <= ox + 1'b1; oxs <= oxs + {{(CW-8){1'b0}}, d_s};
                        ix <= oxs + {{(CW-8){1'b0}}, d_s}; iy <= oys;
                    end else begin
                        ox <= 0; oxs <= 0; oy <= oy + 1'b1; oys <= oys + {{(CW-8){1'b0}}, d_s};
                        pix_row <= pix_next;
                        ix <= 0; iy <= oys + {{(CW-8){1'b0}}, d_s};
                    end
                end else begin
                    consumed <= consumed + 1'b1;
                    slot <= !slot;
                    if (!last_chunk) begin
                        ch <= ch + 8'd1; cpix0 <= cpix0 + d_chunkstep; state <= S_WAITW;
                        last_chunk <= (ch + 8'd1 == d_nch_m1);
                    end else if (og != d_g - 1'b1) begin
                        ch <= 0; cpix0 <= d_pix0; og <= og + 1'b1; gbase <= gbase + d_gstep;
                        last_chunk <= one_chunk;
                        nlanes <= (og + 1'b1 == d_g - 1'b1) ? d_lanes_last : P[7:0];
                        state <= S_WAITW;
                    end else begin
                        state <= S_IDLE; done <= 1'b1;
                    end
                end
            end
            default: state <= S_IDLE;
            endcase
        end
    end

    // ---- operand stage: the MAC array sees (code - OFFSET, weights) one cycle after issue -
    reg iss1, pad1, first1, last1;
    always @(posedge clk) begin
        iss1 <= !rst && tap_issue;
        pad1 <= pad;
        first1 <= (t == 0);
        last1 <= last_tap;
    end
    wire [7:0] x1 = pad1 ? d_padv : m_rbyte;
    wire [8:0] xs1 = {1'b0, x1} - OFF9;
    always @(*) begin
        mac_en = iss1; mac_first = iss1 && first1; mac_last = iss1 && last1;
        mac_act = xs1[7:0]; mac_w = wb_data;
    end

    // ---- requantizer pipeline: q (lane in) -> r1 (bias) -> r2 (sum) -> rb (shift) ->
    // rc (rounding and zero point) -> r3 (clamp, table read) -> r4 (write).
    // The rounding shift uses floor((v + 2^(s-1)) / 2^s) = floor((floor(2v / 2^s) + 1) / 2):
    // t = 2v shifted (right by s, or left by the left shift), then u = t + 2*ZERO + 1, and the
    // code is clamp(u >>> 1): one shifter, one adder, and no adder between the last register
    // and the clamp (a sign test, an OR of the high bits and an 8-bit compare).
    reg r1_v, r2_v, rb_v, rc_v, r3_v;
    reg signed [ACC_W-1:0] r1_a;
    reg signed [SH_W-1:0] r2_sum;
    reg signed [SH_W:0] rb_t;
    reg signed [SH_W+1:0] rc_u;
    reg [RSH_W-1:0] r2_rsh;
    reg [LSH_W-1:0] r2_lsh;
    reg [7:0] r3_code;
    // stage r1: the parameter word of the lane was addressed in the issue cycle
    always @(posedge clk) begin
        r1_v <= !rst && q_v; r1_a <= q_a;
    end
    wire signed [BIAS_W-1:0] bias1 = pb_data[BIAS_W-1:0];
    wire signed [7:0] sh1 = pb_data[BIAS_W+7:BIAS_W];
    // shift amounts at the widths the design's shifts need (a negative shift goes left)
    wire [7:0] nsh1 = 8'd0 - sh1;
    wire [RSH_W-1:0] rsh1 = sh1[7] ? {RSH_W{1'b0}} : sh1[RSH_W-1:0];
    wire [LSH_W-1:0] lsh1 = (LSH_EN != 0 && sh1[7]) ? nsh1[LSH_W-1:0] : {LSH_W{1'b0}};
    always @(posedge clk) begin
        r2_v <= !rst && r1_v;
        r2_sum <= $signed({{(SH_W-ACC_W){r1_a[ACC_W-1]}}, r1_a}) + $signed({{(SH_W-BIAS_W){bias1[BIAS_W-1]}}, bias1});
        r2_rsh <= rsh1; r2_lsh <= lsh1;
    end
    wire signed [SH_W:0] t2 = {r2_sum, 1'b0};
    always @(posedge clk) begin
        rb_v <= !rst && r2_v;
        rb_t <= (t2 <<< r2_lsh) >>> r2_rsh;
    end
    wire signed [SH_W+1:0] zr = $signed({{(SH_W-7){1'b0}}, d_zero, 1'b1});
    always @(posedge clk) begin
        rc_v <= !rst && rb_v;
        rc_u <= $signed({rb_t[SH_W], rb_t}) + zr;
    end
    // y = rc_u >>> 1: below 0 gives 0, 256 or more gives QMAX, else min(y, QMAX)
    wire y_neg = rc_u[SH_W+1];
    wire y_big = |rc_u[SH_W:9];
    wire [7:0] y8 = rc_u[8:1];
    wire [7:0] c2 = y_neg ? 8'd0 : ((y_big || (y8 > d_qmax)) ? d_qmax : y8);
    always @(posedge clk) begin
        r3_v <= !rst && rc_v; r3_code <= c2;
    end
    assign lut_addr = c2;
    reg r4_v;
    reg [7:0] r4_code;
    always @(posedge clk) begin
        r4_v <= !rst && r3_v; r4_code <= r3_code;
    end
    // The lanes leave the pipeline in order, one output channel apart: the write address
    // starts at the pixel's first lane (the pipeline is empty when a drain starts) and
    // steps by one channel plane per code written.
    reg [AB-1:0] r4_addr;
    always @(posedge clk) begin
        if (state == S_WMAC) r4_addr <= opix;
        else if (r4_v) r4_addr <= r4_addr + d_howo;
    end
    // r3: the table read issued with c2 returns lut_data in r3; write in r4
    reg [7:0] r4_lut;
    always @(posedge clk) r4_lut <= lut_data;
    assign cw_en = r4_v;
    assign cw_addr = r4_addr;
    assign cw_data = d_has_lut ? r4_lut : r4_code;
    wire q_busy = q_v || r1_v || r2_v || rb_v || rc_v || r3_v || r4_v;

    wire unused = ^{ps_addr[AB-1], ps_addr[0], xs1[8], nsh1, ps_in, rc_u[0]};
endmodule
