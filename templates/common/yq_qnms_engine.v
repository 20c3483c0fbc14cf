// yq_qnms_engine: integer post-processing of the detection head (the `--qnms` spec of
// src/quant/qhead.rs), reading the head's box and class codes from the activation memory
// and writing the kept detections back into it.
//
// Phase 1, per anchor (levels in order, then rows, then columns): read the NC class codes,
// keep the first largest; if it reaches the level's threshold code, decode the box: per
// side, read REG_MAX bin codes and take their maximum m, sum e = EXP[m - q] and i * e
// through the exp table, divide ((num << FRAC) + den / 2) / den (restoring division), then
// x1 = (ax - d0) << sh, ..., and append {box, score = SIG[best], class} to the candidates.
// Phase 2, greedy class-aware NMS in score order: repeatedly select the unused candidate
// with the highest score (lowest index on ties, i.e. a stable sort), compare it with every
// kept box (drop it when inter * IOU_DEN > IOU_NUM * union), keep it otherwise and write its
// record; stop after MAX_DET kept boxes or when no candidate is left.
// Output at OUT_BASE: count (2 bytes, little endian), then per detection 11 bytes:
// x1, y1, x2, y2 (16-bit two's complement, FRAC fraction bits), score (16 bits, 15 fraction
// bits), class. Cycles: see src/rtl/qnms.rs (`QnmsPlan::schedule`), which follows this schedule.
//
// Per-level values come packed 32 bits per level (level 0 in the low bits).
module yq_qnms_engine #(
    parameter AW = 12, parameter DW = 8,
    parameter NL = 3, parameter NC = 80,
    parameter REG_MAX = 16, parameter RW = 5, parameter FRAC = 4, parameter QB = 8, parameter QIW = 3, parameter [QIW-1:0] QB_TOP = 7,
    parameter QW = 8,
    parameter [NL*32-1:0] L_BOX = 0, parameter [NL*32-1:0] L_CLS = 0,
    parameter [NL*32-1:0] L_H = 0, parameter [NL*32-1:0] L_W = 0, parameter [NL*32-1:0] L_HW = 0,
    parameter [NL*32-1:0] L_SH = 0, parameter [NL*32-1:0] L_THR = 0,
    parameter [NL*32-1:0] L_EOFF = 0, parameter [NL*32-1:0] L_SOFF = 0,
    parameter EAW = 8, parameter EW = 16, parameter SAW = 8,
    parameter NUMW = 24, parameter DENW = 20,
    parameter NCAND = 84, parameter CIW = 7,
    parameter MAX_DET = 300, parameter KEEP_DEPTH = 84, parameter KDW = 7, parameter KIW = 9,
    parameter AREAW = 34, parameter PW = 48,
    parameter IOU_NUM = 700, parameter IOU_DEN = 1000,
    parameter [AW-1:0] OUT_BASE = 0, parameter [AW-1:0] OUT_BASE1 = 1, parameter [AW-1:0] REC_BASE = 2
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    output wire rd_en,
    output wire [AW-1:0] rd_addr,
    input wire [DW-1:0] rd_data,
    output wire wr_en,
    output wire [AW-1:0] wr_addr,
    output wire [DW-1:0] wr_data,
    output wire [EAW-1:0] exp_addr,
    input wire [EW-1:0] exp_data,
    output wire [SAW-1:0] sig_addr,
    input wire [15:0] sig_data
);
    localparam S_IDLE = 5'd0, S_ANCHOR = 5'd1, S_CLS = 5'd2, S_THR = 5'd3, S_BMAX = 5'd4,
               S_BACC = 5'd5, S_DIVI = 5'd6, S_DIV = 5'd7, S_CAND = 5'd8, S_CANDW = 5'd9,
               S_NEXT = 5'd10, S_SELI = 5'd11, S_SEL = 5'd12, S_PICK = 5'd13, S_NMS = 5'd14,
               S_DECIDE = 5'd15, S_KEEP = 5'd16, S_OUT = 5'd17, S_COUNT = 5'd18, S_DONE = 5'd19;
    // A candidate: {class, score, y2, x2, y1, x1}; coordinates are 16-bit signed.
    localparam CW = 16, KW = 8;
    localparam ENTW = 4 * CW + 16 + KW;

    reg [4:0] state;
    reg [1:0] lvl;
    reg [15:0] y, x, pix;
    reg [AW-1:0] ra;
    reg [15:0] k;
    reg [15:0] kd;
    reg vd;
    reg [QW-1:0] best_q, m;
    reg [KW-1:0] best_k;
    reg [QW-1:0] codes [0:REG_MAX-1];
    reg [1:0] side;
    reg [NUMW-1:0] num;
    reg [DENW-1:0] den;
    reg [NUMW+FRAC:0] rem;
    reg [QB-1:0] q;
    reg [QIW-1:0] bit_i;
    reg [QB-1:0] dside [0:3];

    wire [31:0] box_base = L_BOX[lvl*32 +: 32];
    wire [31:0] cls_base = L_CLS[lvl*32 +: 32];
    wire [31:0] lh = L_H[lvl*32 +: 32];
    wire [31:0] lw = L_W[lvl*32 +: 32];
    wire [31:0] lsh = L_SH[lvl*32 +: 32];
    wire [31:0] thr = L_THR[lvl*32 +: 32];
    wire [31:0] eoff = L_EOFF[lvl*32 +: 32];
    wire [31:0] soff = L_SOFF[lvl*32 +: 32];
    wire [31:0] lhw = L_HW[lvl*32 +: 32];
    wire [AW-1:0] hw = lhw[AW-1:0];
    // pixel index widened to any address width
    wire [AW+15:0] pix_x = {{AW{1'b0}}, pix};
    wire [AW-1:0] pix_a = pix_x[AW-1:0];
    wire unused_pix_x = ^pix_x[AW+15:AW];

    // Candidate store and its `used` flags; kept boxes with their areas.
    reg [ENTW-1:0] cand [0:NCAND-1];
    reg used [0:NCAND-1];
    reg [ENTW+AREAW-1:0] keep [0:KEEP_DEPTH-1];
    reg [CIW-1:0] ncand, j, jd, best_j;
    reg [KIW-1:0] nkeep, kk;
    reg [ENTW-1:0] c_rd, best_e;
    reg u_rd, found;
    reg [15:0] best_s;
    reg [ENTW+AREAW-1:0] k_rd;
    reg [AREAW-1:0] best_area;
    reg v0, v1, v2, supp;
    reg [3:0] widx;
    reg [AW-1:0] wa;

    // Reads of the activation memory: class codes, then box bins.
    assign rd_en = (state == S_CLS && k < NC) || (state == S_BMAX && k < REG_MAX);
    assign rd_addr = rd_en ? ra : {AW{1'b0}};

    // Exp table: m - codes[k] for the current side; sigmoid of the best class code.
    wire [QW-1:0] ediff = m - codes[k[RW-1:0]];
    assign exp_addr = (state == S_BACC) ? (eoff[EAW-1:0] + {{(EAW-QW){1'b0}}, ediff}) : {EAW{1'b0}};
    assign sig_addr = (state == S_CAND) ? (soff[SAW-1:0] + {{(SAW-QW){1'b0}}, best_q}) : {SAW{1'b0}};

    // Box of the current anchor.
    // Anchor centre (x << FRAC) + half a cell: the low FRAC bits are 1000...
    wire signed [CW-1:0] ax = $signed({x[CW-FRAC-1:0], 1'b1, {(FRAC-1){1'b0}}});
    wire signed [CW-1:0] ay = $signed({y[CW-FRAC-1:0], 1'b1, {(FRAC-1){1'b0}}});
    wire signed [CW-1:0] bx1 = (ax - $signed({{(CW-QB){1'b0}}, dside[0]})) <<< lsh;
    wire signed [CW-1:0] by1 = (ay - $signed({{(CW-QB){1'b0}}, dside[1]})) <<< lsh;
    wire signed [CW-1:0] bx2 = (ax + $signed({{(CW-QB){1'b0}}, dside[2]})) <<< lsh;
    wire signed [CW-1:0] by2 = (ay + $signed({{(CW-QB){1'b0}}, dside[3]})) <<< lsh;

    // NMS pipeline: stage 1 intersection sides and class match, stage 2 areas.
    wire signed [CW-1:0] kx1 = k_rd[CW-1:0];
    wire signed [CW-1:0] ky1 = k_rd[2*CW-1:CW];
    wire signed [CW-1:0] kx2 = k_rd[3*CW-1:2*CW];
    wire signed [CW-1:0] ky2 = k_rd[4*CW-1:3*CW];
    wire [KW-1:0] kcls = k_rd[ENTW-1:ENTW-KW];
    wire [AREAW-1:0] karea = k_rd[ENTW+AREAW-1:ENTW];
    wire signed [CW-1:0] cx1 = best_e[CW-1:0];
    wire signed [CW-1:0] cy1 = best_e[2*CW-1:CW];
    wire signed [CW-1:0] cx2 = best_e[3*CW-1:2*CW];
    wire signed [CW-1:0] cy2 = best_e[4*CW-1:3*CW];
    wire [KW-1:0] ccls = best_e[ENTW-1:ENTW-KW];
    wire signed [CW:0] iw0 = $signed(kx2 < cx2 ? kx2 : cx2) - $signed(kx1 > cx1 ? kx1 : cx1);
    wire signed [CW:0] ih0 = $signed(ky2 < cy2 ? ky2 : cy2) - $signed(ky1 > cy1 ? ky1 : cy1);
    reg [CW:0] iw1, ih1;
    reg same1;
    reg [AREAW-1:0] karea1;
    wire [2*CW+1:0] inter1 = iw1 * ih1;
    reg signed [PW-1:0] inter2, union2;
    reg same2;
    wire signed [PW-1:0] lhs = inter2 * IOU_DEN;
    wire signed [PW-1:0] rhs = union2 * IOU_NUM;
    // Area of the selected candidate (clamped sides).
    wire signed [CW:0] cw0 = $signed({cx2[CW-1], cx2}) - $signed({cx1[CW-1], cx1});
    wire signed [CW:0] ch0 = $signed({cy2[CW-1], cy2}) - $signed({cy1[CW-1], cy1});
    wire [CW:0] cw1 = cw0[CW] ? {(CW+1){1'b0}} : cw0;
    wire [CW:0] ch1 = ch0[CW] ? {(CW+1){1'b0}} : ch0;
    wire [AREAW-1:0] carea = cw1 * ch1;

    // Output bytes of the newest kept box, then the count.
    wire [15:0] rec_sc = best_e[4*CW+15:4*CW];
    wire [CW-1:0] rx1 = best_e[CW-1:0];
    wire [CW-1:0] ry1 = best_e[2*CW-1:CW];
    wire [CW-1:0] rx2 = best_e[3*CW-1:2*CW];
    wire [CW-1:0] ry2 = best_e[4*CW-1:3*CW];
    reg [7:0] byte_o;
    always @(*) begin
        case (widx)
            4'd0: byte_o = rx1[7:0];
            4'd1: byte_o = rx1[15:8];
            4'd2: byte_o = ry1[7:0];
            4'd3: byte_o = ry1[15:8];
            4'd4: byte_o = rx2[7:0];
            4'd5: byte_o = rx2[15:8];
            4'd6: byte_o = ry2[7:0];
            4'd7: byte_o = ry2[15:8];
            4'd8: byte_o = rec_sc[7:0];
            4'd9: byte_o = rec_sc[15:8];
            default: byte_o = ccls;
        endcase
    end
    wire [15:0] count16 = {{(16-KIW){1'b0}}, nkeep};
    wire [7:0] cbyte = widx[0] ? count16[15:8] : count16[7:0];
    assign wr_en = (state == S_OUT) || (state == S_COUNT);
    assign wr_addr = (state == S_OUT) ? wa : (state == S_COUNT) ? (widx[0] ? OUT_BASE1 : OUT_BASE) : {AW{1'b0}};
    wire [7:0] obyte = (state == S_OUT) ? byte_o : (state == S_COUNT) ? cbyte : 8'd0;
    generate
        if (DW > 8) begin : g_wide
            assign wr_data = {{(DW-8){1'b0}}, obyte};
        end else begin : g_byte
            assign wr_data = obyte;
        end
    endgenerate

    wire last_x = (x == lw[15:0] - 1'b1);
    wire last_y = (y == lh[15:0] - 1'b1);

    always @(posedge clk) begin
        if (state == S_CANDW) cand[ncand] <= {best_k, sig_data, by2, bx2, by1, bx1};
        if (state == S_PICK && found) used[best_j] <= 1'b1;
        if (state == S_CANDW) used[ncand] <= 1'b0;
        if (state == S_KEEP) keep[nkeep[KDW-1:0]] <= {best_area, best_e};
        c_rd <= cand[j];
        u_rd <= used[j];
        k_rd <= keep[kk[KDW-1:0]];
    end

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE; done <= 1'b0;
        end else begin
            done <= 1'b0;
            case (state)
                S_IDLE: if (go) begin
                    lvl <= 2'd0; y <= 16'd0; x <= 16'd0; pix <= 16'd0; ncand <= {CIW{1'b0}};
                    nkeep <= {KIW{1'b0}}; wa <= REC_BASE; state <= S_ANCHOR;
                end
                S_ANCHOR: begin
                    ra <= cls_base[AW-1:0] + pix_a; k <= 16'd0; vd <= 1'b0; state <= S_CLS;
                end
                S_CLS: begin
                    if (k < NC) begin
                        ra <= ra + hw; k <= k + 1'b1;
                    end
                    vd <= (k < NC); kd <= k;
                    if (vd && (kd == 16'd0 || rd_data[QW-1:0] > best_q)) begin
                        best_q <= rd_data[QW-1:0]; best_k <= kd[7:0];
                    end
                    if (vd && kd == NC - 1) state <= S_THR;
                end
                S_THR: begin
                    ra <= box_base[AW-1:0] + pix_a; k <= 16'd0; vd <= 1'b0; side <= 2'd0;
                    state <= ({{(32-QW){1'b0}}, best_q} >= thr) ? S_BMAX : S_NEXT;
                end
                S_BMAX: begin
                    if (k < REG_MAX) begin
                        ra <= ra + hw; k <= k + 1'b1;
                    end
                    vd <= (k < REG_MAX); kd <= k;
                    if (vd) begin
                        codes[kd[RW-1:0]] <= rd_data[QW-1:0];
                        if (kd == 16'd0 || rd_data[QW-1:0] > m) m <= rd_data[QW-1:0];
                    end
                    if (vd && kd == REG_MAX - 1) begin
                        state <= S_BACC; k <= 16'd0; vd <= 1'b0; num <= {NUMW{1'b0}}; den <= {DENW{1'b0}};
                    end
                end
                S_BACC: begin
                    if (k < REG_MAX) k <= k + 1'b1;
                    vd <= (k < REG_MAX); kd <= k;
                    if (vd) begin
                        num <= num + kd[RW-1:0] * exp_data;
                        den <= den + {{(DENW-EW){1'b0}}, exp_data};
                    end
                    if (vd && kd == REG_MAX - 1) state <= S_DIVI;
                end
                S_DIVI: begin
                    rem <= {1'b0, num, {FRAC{1'b0}}} + {{(NUMW+FRAC+2-DENW){1'b0}}, den[DENW-1:1]};
                    q <= {QB{1'b0}}; bit_i <= QB_TOP; state <= S_DIV;
                end
                S_DIV: begin
                    if (rem >= ({{(NUMW+FRAC+1-DENW){1'b0}}, den} << bit_i)) begin
                        rem <= rem - ({{(NUMW+FRAC+1-DENW){1'b0}}, den} << bit_i);
                        q[bit_i] <= 1'b1;
                    end
                    if (bit_i == 0) begin
                        dside[side] <= (rem >= {{(NUMW+FRAC+1-DENW){1'b0}}, den}) ? {q[QB-1:1], 1'b1} : q;
                        k <= 16'd0; vd <= 1'b0;
                        if (side == 2'd3) state <= S_CAND;
                        else begin
                            side <= side + 1'b1; state <= S_BMAX;
                        end
                    end else bit_i <= bit_i - 1'b1;
                end
                S_CAND: state <= S_CANDW;
                S_CANDW: begin
                    ncand <= ncand + 1'b1; state <= S_NEXT;
                end
                S_NEXT: begin
                    state <= S_ANCHOR;
                    pix <= pix + 1'b1; x <= x + 1'b1;
                    if (last_x) begin
                        x <= 16'd0; y <= y + 1'b1;
                        if (last_y) begin
                            y <= 16'd0; pix <= 16'd0; lvl <= lvl + 1'b1;
                            if (lvl == NL - 1) state <= S_SELI;
                        end
                    end
                end
                S_SELI: begin
                    j <= {CIW{1'b0}}; vd <= 1'b0; found <= 1'b0;
                    state <= (ncand == 0) ? S_COUNT : S_SEL;
                    widx <= 4'd0;
                end
                S_SEL: begin
                    if (j < ncand) j <= j + 1'b1;
                    vd <= (j < ncand); jd <= j;
                    if (vd && !u_rd && (!found || c_rd[4*CW+15:4*CW] > best_s)) begin
                        found <= 1'b1; best_s <= c_rd[4*CW+15:4*CW]; best_e <= c_rd; best_j <= jd;
                    end
                    if (vd && jd == ncand - 1'b1) state <= S_PICK;
                end
                S_PICK: begin
                    kk <= {KIW{1'b0}}; v0 <= 1'b0; v1 <= 1'b0; v2 <= 1'b0; supp <= 1'b0;
                    best_area <= carea;
                    state <= !found ? S_COUNT : (nkeep == 0) ? S_KEEP : S_NMS;
                end
                S_NMS: begin
                    if (kk < nkeep) kk <= kk + 1'b1;
                    v0 <= (kk < nkeep);
                    v1 <= v0;
                    iw1 <= iw0[CW] ? {(CW+1){1'b0}} : iw0;
                    ih1 <= ih0[CW] ? {(CW+1){1'b0}} : ih0;
                    same1 <= (kcls == ccls);
                    karea1 <= karea;
                    v2 <= v1;
                    inter2 <= $signed({{(PW-2*CW-2){1'b0}}, inter1});
                    union2 <= $signed({{(PW-AREAW){1'b0}}, karea1}) + $signed({{(PW-AREAW){1'b0}}, best_area})
                              - $signed({{(PW-2*CW-2){1'b0}}, inter1});
                    same2 <= same1;
                    if (v2 && same2 && lhs > rhs) supp <= 1'b1;
                    if (kk == nkeep && !v0 && !v1 && v2) state <= S_DECIDE;
                end
                S_DECIDE: state <= supp ? S_SELI : S_KEEP;
                S_KEEP: begin
                    nkeep <= nkeep + 1'b1; widx <= 4'd0; state <= S_OUT;
                end
                S_OUT: begin
                    wa <= wa + 1'b1; widx <= widx + 1'b1;
                    if (widx == 4'd10) begin
                        state <= (nkeep == MAX_DET) ? S_COUNT : S_SELI;
                        widx <= 4'd0;
                    end
                end
                S_COUNT: begin
                    widx <= widx + 1'b1;
                    if (widx == 4'd1) state <= S_DONE;
                end
                S_DONE: begin
                    done <= 1'b1; state <= S_IDLE;
                end
                default: state <= S_IDLE;
            endcase
        end
    end
    wire unused = ^{lh[31:16], lw[31:16], lhw, lsh, eoff, soff, box_base, cls_base, rd_data, k_rd, kd, rem};
endmodule
