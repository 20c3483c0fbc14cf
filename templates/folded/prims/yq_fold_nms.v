// yq_fold_nms: the folded engine's post-processing unit: integer DFL, box decode, class
// threshold and class-aware greedy NMS (the `--qnms` spec of src/quant/qhead.rs), built for
// a small FPGA: no multiplier cells and no candidate store in block RAM. Candidates and kept
// boxes live in the activation memory (a region free during this layer), areas and
// intersections come from one shift-add multiplier, and only a 1-bit `used` flag per anchor
// is held on chip.
//
// Phase 1, per anchor (levels, rows, columns): read the NC class codes and keep the first
// largest; if it reaches the level's threshold code, decode the four sides (REG_MAX bin codes,
// their maximum m, e = EXP[m - q] summed as den = sum(e) and, without a multiplier,
// num = sum(i * e) = REG_MAX * den - sum of the running den), divide
// ((num << FRAC) + den / 2) / den by restoring division (one shared divisor register), then
// x1 = (ax - d0) << sh, ... one side per division through one adder and shifter, and write the
// candidate as 6 words at CAND_BASE + 12 * n: x1, y1, x2, y2, score = SIG[best], class.
// Phase 2: select the unused candidate with the highest score (lowest index on ties: the
// reference's stable sort; one word read per candidate), read it, compute its area; compare
// it with the kept boxes in order (8 words each at KEEP_BASE + 16 * k: x1, y1, x2, y2, class,
// area low, area high); a kept box of the same class suppresses it when
// inter * IOU_DEN > IOU_NUM * union (IOU_NUM / IOU_DEN in lowest terms), and the first
// suppression ends the comparisons. A kept box is appended to the kept list and its 11-byte
// record (x1, y1, x2, y2, score 16 bits each, class) to the output after the 2-byte count at
// OUT_BASE. Stops after MAX_DET kept boxes or when no candidate is left.
// Cycles: src/rtl/folded/nms.rs (`cycles`) follows this schedule state by state.
//
// Memory port: byte reads (rd_data) and word reads (rd_word, even addresses), 1-cycle latency;
// byte writes, or word writes with wr_wide at even addresses.
module yq_fold_nms #(
    parameter AW = 17,
    parameter NL = 3, parameter NC = 80,
    parameter REG_MAX = 16, parameter RW = 5, parameter FRAC = 4, parameter QB = 8, parameter QIW = 3,
    parameter [QIW-1:0] QB_TOP = 7,
    parameter [NL*32-1:0] L_BOX = 0, parameter [NL*32-1:0] L_CLS = 0,
    parameter [NL*32-1:0] L_W = 0, parameter [NL*32-1:0] L_H = 0, parameter [NL*32-1:0] L_HW = 0,
    parameter [NL*32-1:0] L_SH = 0, parameter [NL*32-1:0] L_THR = 0,
    parameter [NL*32-1:0] L_EOFF = 0, parameter [NL*32-1:0] L_SOFF = 0,
    parameter EAW = 8, parameter EW = 16, parameter SAW = 8,
    parameter NUMW = 24, parameter DENW = 20,
    parameter NCAND = 84, parameter CIW = 7,
    parameter MAX_DET = 300, parameter KIW = 9,
    parameter MW = 14,                        // bits of a box side
    parameter IOU_NUM = 7, parameter IOU_DEN = 10,
    parameter CMW = 36,                       // width of the IoU comparison
    parameter [AW-1:0] OUT_BASE = 0, parameter [AW-1:0] CAND_BASE = 0, parameter [AW-1:0] KEEP_BASE = 0
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    output wire rd_en,
    output wire [AW-1:0] rd_addr,
    input wire [7:0] rd_data,
    input wire [15:0] rd_word,
    output wire wr_en,
    output wire wr_wide,
    output wire [AW-1:0] wr_addr,
    output wire [15:0] wr_data,
    output wire [EAW-1:0] exp_addr,
    input wire [EW-1:0] exp_data,
    output wire [SAW-1:0] sig_addr,
    input wire [15:0] sig_data
);
    localparam [4:0] S_IDLE = 5'd0, S_ANCHOR = 5'd1, S_CLS = 5'd2, S_THR = 5'd3, S_BMAX = 5'd4,
                     S_BACC = 5'd5, S_DIVI = 5'd6, S_DIV = 5'd7, S_CAND = 5'd8, S_CANDW = 5'd9,
                     S_CW = 5'd10, S_NEXT = 5'd11, S_SELI = 5'd12, S_SEL = 5'd13, S_PICK = 5'd14,
                     S_LD = 5'd15, S_AREA = 5'd16, S_KLD = 5'd17, S_KCHK = 5'd18, S_KCMP = 5'd19,
                     S_KW = 5'd20, S_OUT = 5'd21, S_COUNT = 5'd22, S_DONE = 5'd23, S_MUL = 5'd24;
    localparam CW = 16;
    localparam AREAW = 2 * MW;
    localparam QAW = DENW + RW;
    localparam [AW-1:0] A2 = 2, A8 = 8, A12 = 12, A16 = 16;

    // constant multiplication by shifts and adds (no multiplier cell)
    function [CMW-1:0] mulc(input [CMW-1:0] x, input integer c);
        integer b;
        begin
            mulc = {CMW{1'b0}};
            for (b = 0; b < 31; b = b + 1)
                if (((c >> b) & 1) != 0) mulc = mulc + (x << b);
        end
    endfunction

    reg [4:0] state, after_mul;
    reg [1:0] lvl;
    reg [15:0] y, x, pix;
    reg [AW-1:0] ra;
    reg [15:0] k, kd;
    reg vd;
    reg [7:0] best_q, m;
    reg [7:0] best_k;
    reg [7:0] codes [0:REG_MAX-1];
    reg [1:0] side;
    reg [DENW-1:0] den;
    reg [QAW-1:0] qacc;
    reg [NUMW+FRAC:0] rem;
    reg [QB-1:0] q;
    reg [QIW-1:0] bit_i;
    reg [NUMW+FRAC:0] dsh;      // den << bit_i, shifted right once per division step
    reg [QB-1:0] qlast;         // the last side's distance, decoded the cycle after
    reg [1:0] qside;
    reg qpend;

    wire [31:0] box_base = L_BOX[lvl*32 +: 32];
    wire [31:0] cls_base = L_CLS[lvl*32 +: 32];
    wire [31:0] lw = L_W[lvl*32 +: 32];
    wire [31:0] lh = L_H[lvl*32 +: 32];
    wire [31:0] lhw = L_HW[lvl*32 +: 32];
    wire [31:0] lsh = L_SH[lvl*32 +: 32];
    wire [31:0] thr = L_THR[lvl*32 +: 32];
    wire [31:0] eoff = L_EOFF[lvl*32 +: 32];
    wire [31:0] soff = L_SOFF[lvl*32 +: 32];
    wire [AW-1:0] hw = lhw[AW-1:0];
    wire [AW+15:0] pix_x = {{AW{1'b0}}, pix};
    wire [AW-1:0] pix_a = pix_x[AW-1:0];

    // ---- candidates, selection, kept boxes ------------------------------------------------
    reg used [0:NCAND-1];
    reg u_rd;
    reg [CIW-1:0] ncand, j, jd, best_j;
    reg [AW-1:0] cb, jb, jbd, best_b, kb;
    reg [KIW-1:0] nkeep, kk;
    reg found;
    reg [15:0] best_s;
    // the selected (or new) candidate: sides, score, class, area
    reg signed [CW-1:0] cx1, cy1, cx2, cy2;
    reg [7:0] ccls;
    reg [AREAW-1:0] best_area;
    // the kept box being compared
    reg signed [CW-1:0] kx1, ky1, kx2, ky2;
    reg [7:0] kcls;
    reg [AREAW-1:0] karea;
    reg [3:0] widx;
    reg [AW-1:0] wa;

    // ---- shift-add multiplier: {mh, ml} = ma * ml0 in MW steps ----------------------------
    reg [MW-1:0] ma, ml;
    reg [MW:0] mh;
    reg [4:0] mstep;
    wire [MW:0] msum = mh + (ml[0] ? {1'b0, ma} : {(MW+1){1'b0}});
    wire [AREAW-1:0] mprod = {mh[MW-1:0], ml};

    // ---- reads -----------------------------------------------------------------------------
    wire cls_rd = (state == S_CLS) && (k < NC);
    wire bin_rd = (state == S_BMAX) && (k < REG_MAX);
    wire sel_rd = (state == S_SEL) && ({{(16-CIW){1'b0}}, j} < {{(16-CIW){1'b0}}, ncand});
    wire ld_rd = (state == S_LD) && (k < 16'd6);
    wire kld_rd = (state == S_KLD) && (k < 16'd7);
    assign rd_en = cls_rd || bin_rd || sel_rd || ld_rd || kld_rd;
    assign rd_addr = rd_en ? ra : {AW{1'b0}};

    wire [7:0] ediff = m - codes[k[RW-1:0]];
    assign exp_addr = (state == S_BACC) ? (eoff[EAW-1:0] + {{(EAW-8){1'b0}}, ediff}) : {EAW{1'b0}};
    assign sig_addr = (state == S_CAND) ? (soff[SAW-1:0] + {{(SAW-8){1'b0}}, best_q}) : {SAW{1'b0}};

    // ---- decode ----------------------------------------------------------------------------
    wire signed [CW-1:0] ax = $signed({x[CW-FRAC-1:0], 1'b1, {(FRAC-1){1'b0}}});
    wire signed [CW-1:0] ay = $signed({y[CW-FRAC-1:0], 1'b1, {(FRAC-1){1'b0}}});
    wire [2:0] sh3 = lsh[2:0];
    // one side at a time: x1 = (ax - d0) << sh, y1 = (ay - d1) << sh, x2 = (ax + d2) << sh,
    // y2 = (ay + d3) << sh
    wire signed [CW-1:0] dq = $signed({{(CW-QB){1'b0}}, qlast});
    wire signed [CW-1:0] a_side = qside[0] ? ay : ax;
    wire signed [CW-1:0] b_side = (qside[1] ? (a_side + dq) : (a_side - dq)) <<< sh3;
    wire [DENW-1:0] den_n = den + {{(DENW-EW){1'b0}}, exp_data};
    wire [CMW-1:0] den_rm_x = mulc({{(CMW-DENW){1'b0}}, den}, REG_MAX);
    wire [QAW-1:0] den_rm = den_rm_x[QAW-1:0];
    wire [QAW-1:0] num_q = den_rm - qacc;
    wire [NUMW-1:0] num = num_q[NUMW-1:0];

    // ---- NMS arithmetic ----------------------------------------------------------------------
    wire signed [CW:0] sw0 = $signed({cx2[CW-1], cx2}) - $signed({cx1[CW-1], cx1});
    wire signed [CW:0] sh0 = $signed({cy2[CW-1], cy2}) - $signed({cy1[CW-1], cy1});
    wire signed [CW-1:0] ix2 = (kx2 < cx2) ? kx2 : cx2;
    wire signed [CW-1:0] ix1 = (kx1 > cx1) ? kx1 : cx1;
    wire signed [CW-1:0] iy2 = (ky2 < cy2) ? ky2 : cy2;
    wire signed [CW-1:0] iy1 = (ky1 > cy1) ? ky1 : cy1;
    wire signed [CW:0] iw0 = $signed({ix2[CW-1], ix2}) - $signed({ix1[CW-1], ix1});
    wire signed [CW:0] ih0 = $signed({iy2[CW-1], iy2}) - $signed({iy1[CW-1], iy1});
    // sides clamped at 0 (and at most MW bits, proven when lowering)
    wire [MW-1:0] swc = sw0[CW] ? {MW{1'b0}} : sw0[MW-1:0];
    wire [MW-1:0] shc = sh0[CW] ? {MW{1'b0}} : sh0[MW-1:0];
    wire [MW-1:0] iwc = iw0[CW] ? {MW{1'b0}} : iw0[MW-1:0];
    wire [MW-1:0] ihc = ih0[CW] ? {MW{1'b0}} : ih0[MW-1:0];
    wire [CMW-1:0] inter_x = {{(CMW-AREAW){1'b0}}, mprod};
    wire [CMW-1:0] union_x = {{(CMW-AREAW){1'b0}}, karea} + {{(CMW-AREAW){1'b0}}, best_area} - inter_x;
    wire suppress = mulc(inter_x, IOU_DEN) > mulc(union_x, IOU_NUM);

    // ---- writes ------------------------------------------------------------------------------
    // candidate words (S_CW), kept words (S_KW), record bytes (S_OUT), count bytes (S_COUNT)
    reg [15:0] cword, kword;
    always @(*) begin
        case (widx)
            4'd0: cword = cx1;
            4'd1: cword = cy1;
            4'd2: cword = cx2;
            4'd3: cword = cy2;
            4'd4: cword = best_s;
            default: cword = {8'd0, ccls};
        endcase
        case (widx)
            4'd0: kword = cx1;
            4'd1: kword = cy1;
            4'd2: kword = cx2;
            4'd3: kword = cy2;
            4'd4: kword = {8'd0, ccls};
            4'd5: kword = best_area[15:0];
            default: kword = {{(32-AREAW){1'b0}}, best_area[AREAW-1:16]};
        endcase
    end
    reg [7:0] obyte;
    wire [15:0] ow = cword_at(widx[3:1]);
    function [15:0] cword_at(input [2:0] i);
        begin
            case (i)
                3'd0: cword_at = cx1;
                3'd1: cword_at = cy1;
                3'd2: cword_at = cx2;
                3'd3: cword_at = cy2;
                default: cword_at = best_s;
            endcase
        end
    endfunction
    wire [15:0] count16 = {{(16-KIW){1'b0}}, nkeep};
    always @(*) begin
        if (state == S_COUNT) obyte = widx[0] ? count16[15:8] : count16[7:0];
        else if (widx == 4'd10) obyte = ccls;
        else obyte = widx[0] ? ow[15:8] : ow[7:0];
    end
    wire cw_wr = (state == S_CW), kw_wr = (state == S_KW);
    assign wr_en = cw_wr || kw_wr || (state == S_OUT) || (state == S_COUNT);
    assign wr_wide = cw_wr || kw_wr;
    assign wr_addr = cw_wr ? (cb + {{(AW-4){1'b0}}, widx[2:0], 1'b0})
                   : kw_wr ? (kb + {{(AW-4){1'b0}}, widx[2:0], 1'b0})
                   : (state == S_OUT) ? wa
                   : (state == S_COUNT) ? (OUT_BASE + {{(AW-1){1'b0}}, widx[0]}) : {AW{1'b0}};
    assign wr_data = cw_wr ? cword : kw_wr ? kword : {8'd0, obyte};

    wire last_x = (x == lw[15:0] - 1'b1);
    wire last_y = (y == lh[15:0] - 1'b1);

    // one write port, so the flags map to one block RAM
    wire used_we = (state == S_CW && widx == 4'd0) || (state == S_PICK && found);
    wire [CIW-1:0] used_wa = (state == S_CW) ? ncand : best_j;
    always @(posedge clk) begin
        if (used_we) used[used_wa] <= (state == S_PICK);
        u_rd <= used[j];
    end

    always @(posedge clk) begin
        done <= 1'b0;
        qpend <= 1'b0;
        if (rst) begin
            state <= S_IDLE;
        end else begin
            // a side's distance is decoded the cycle after its division (then S_BMAX of the
            // next side or S_CAND, which do not touch the box registers)
            if (qpend) begin
                case (qside)
                    2'd0: cx1 <= b_side;
                    2'd1: cy1 <= b_side;
                    2'd2: cx2 <= b_side;
                    default: cy2 <= b_side;
                endcase
            end
            case (state)
                S_IDLE: if (go) begin
                    lvl <= 2'd0; y <= 16'd0; x <= 16'd0; pix <= 16'd0; ncand <= {CIW{1'b0}};
                    nkeep <= {KIW{1'b0}}; wa <= OUT_BASE + A2; cb <= CAND_BASE; kb <= KEEP_BASE;
                    state <= S_ANCHOR;
                end
                // ---- phase 1 ----
                S_ANCHOR: begin
                    ra <= cls_base[AW-1:0] + pix_a; k <= 16'd0; vd <= 1'b0; state <= S_CLS;
                end
                S_CLS: begin
                    if (k < NC) begin
                        ra <= ra + hw; k <= k + 1'b1;
                    end
                    vd <= (k < NC); kd <= k;
                    if (vd && (kd == 16'd0 || rd_data > best_q)) begin
                        best_q <= rd_data; best_k <= kd[7:0];
                    end
                    if (vd && kd == NC - 1) state <= S_THR;
                end
                S_THR: begin
                    ra <= box_base[AW-1:0] + pix_a; k <= 16'd0; vd <= 1'b0; side <= 2'd0;
                    state <= ({24'd0, best_q} >= thr) ? S_BMAX : S_NEXT;
                end
                S_BMAX: begin
                    if (k < REG_MAX) begin
                        ra <= ra + hw; k <= k + 1'b1;
                    end
                    vd <= (k < REG_MAX); kd <= k;
                    if (vd) begin
                        codes[kd[RW-1:0]] <= rd_data;
                        if (kd == 16'd0 || rd_data > m) m <= rd_data;
                    end
                    if (vd && kd == REG_MAX - 1) begin
                        state <= S_BACC; k <= 16'd0; vd <= 1'b0;
                        den <= {DENW{1'b0}}; qacc <= {QAW{1'b0}};
                    end
                end
                S_BACC: begin
                    if (k < REG_MAX) k <= k + 1'b1;
                    vd <= (k < REG_MAX); kd <= k;
                    if (vd) begin
                        den <= den_n;
                        qacc <= qacc + {{(QAW-DENW){1'b0}}, den_n};
                    end
                    if (vd && kd == REG_MAX - 1) state <= S_DIVI;
                end
                S_DIVI: begin
                    rem <= {1'b0, num, {FRAC{1'b0}}} + {{(NUMW+FRAC+2-DENW){1'b0}}, den[DENW-1:1]};
                    q <= {QB{1'b0}}; bit_i <= QB_TOP; state <= S_DIV;
                    dsh <= {{(NUMW+FRAC+1-DENW){1'b0}}, den} << QB_TOP;
                end
                S_DIV: begin
                    dsh <= dsh >> 1;
                    if (rem >= dsh) begin
                        rem <= rem - dsh;
                        q[bit_i] <= 1'b1;
                    end
                    if (bit_i == 0) begin
                        qlast <= (rem >= dsh) ? {q[QB-1:1], 1'b1} : q;
                        qside <= side;
                        qpend <= 1'b1;
                        k <= 16'd0; vd <= 1'b0;
                        if (side == 2'd3) state <= S_CAND;
                        else begin
                            side <= side + 1'b1; state <= S_BMAX;
                        end
                    end else bit_i <= bit_i - 1'b1;
                end
                S_CAND: begin
                    ccls <= best_k;   // the last side is decoded in this cycle
                    state <= S_CANDW;
                end
                S_CANDW: begin
                    best_s <= sig_data; widx <= 4'd0; state <= S_CW;
                end
                S_CW: begin
                    widx <= widx + 1'b1;
                    if (widx == 4'd5) begin
                        ncand <= ncand + 1'b1; cb <= cb + A12; state <= S_NEXT;
                    end
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
                // ---- phase 2 ----
                S_SELI: begin
                    j <= {CIW{1'b0}}; jb <= CAND_BASE; ra <= CAND_BASE + A8; vd <= 1'b0; found <= 1'b0;
                    state <= (ncand == 0) ? S_COUNT : S_SEL;
                    widx <= 4'd0;
                end
                S_SEL: begin
                    if (sel_rd) begin
                        j <= j + 1'b1; jb <= jb + A12; ra <= ra + A12;
                    end
                    vd <= sel_rd; jd <= j; jbd <= jb;
                    if (vd && !u_rd && (!found || rd_word > best_s)) begin
                        found <= 1'b1; best_s <= rd_word; best_j <= jd; best_b <= jbd;
                    end
                    if (vd && jd == ncand - 1'b1) state <= S_PICK;
                end
                S_PICK: begin
                    k <= 16'd0; vd <= 1'b0; ra <= best_b;
                    state <= found ? S_LD : S_COUNT;
                end
                S_LD: begin
                    if (ld_rd) begin
                        ra <= ra + A2; k <= k + 1'b1;
                    end
                    vd <= ld_rd; kd <= k;
                    if (vd) begin
                        case (kd[2:0])
                            3'd0: cx1 <= rd_word;
                            3'd1: cy1 <= rd_word;
                            3'd2: cx2 <= rd_word;
                            3'd3: cy2 <= rd_word;
                            3'd5: ccls <= rd_word[7:0];
                            default: ;
                        endcase
                    end
                    if (vd && kd == 16'd5) state <= S_AREA;
                end
                S_AREA: begin
                    // area of the selected box, then the kept list (or keep it at once)
                    ma <= swc; ml <= shc; mh <= {(MW+1){1'b0}}; mstep <= 5'd0;
                    after_mul <= S_KLD; state <= S_MUL;
                end
                S_MUL: begin
                    mh <= {1'b0, msum[MW:1]}; ml <= {msum[0], ml[MW-1:1]};
                    mstep <= mstep + 1'b1;
                    if (mstep == MW - 1) begin
                        state <= after_mul;
                        if (after_mul == S_KLD) begin
                            best_area <= {msum, ml[MW-1:1]};
                            kk <= {KIW{1'b0}}; k <= 16'd0; vd <= 1'b0; ra <= KEEP_BASE;
                            if (nkeep == 0) begin
                                state <= S_KW; widx <= 4'd0;
                            end
                        end
                    end
                end
                S_KLD: begin
                    if (kld_rd) begin
                        ra <= ra + A2; k <= k + 1'b1;
                    end
                    vd <= kld_rd; kd <= k;
                    if (vd) begin
                        case (kd[2:0])
                            3'd0: kx1 <= rd_word;
                            3'd1: ky1 <= rd_word;
                            3'd2: kx2 <= rd_word;
                            3'd3: ky2 <= rd_word;
                            3'd4: kcls <= rd_word[7:0];
                            3'd5: karea[15:0] <= rd_word;
                            default: karea[AREAW-1:16] <= rd_word[AREAW-17:0];
                        endcase
                    end
                    if (vd && kd == 16'd6) state <= S_KCHK;
                end
                S_KCHK: begin
                    if (kcls == ccls) begin
                        ma <= iwc; ml <= ihc; mh <= {(MW+1){1'b0}}; mstep <= 5'd0;
                        after_mul <= S_KCMP; state <= S_MUL;
                    end else begin
                        state <= S_KCMP;
                    end
                end
                S_KCMP: begin
                    // suppressed: drop it (its used flag is set); else the next kept box
                    if (kcls == ccls && suppress) begin
                        state <= S_SELI;
                    end else if (kk == nkeep - 1'b1) begin
                        state <= S_KW; widx <= 4'd0;
                    end else begin
                        kk <= kk + 1'b1; k <= 16'd0; vd <= 1'b0;
                        ra <= KEEP_BASE + {{(AW-KIW-4){1'b0}}, kk + 1'b1, 4'd0};
                        state <= S_KLD;
                    end
                end
                S_KW: begin
                    widx <= widx + 1'b1;
                    if (widx == 4'd6) begin
                        widx <= 4'd0; kb <= kb + A16; state <= S_OUT;
                    end
                end
                S_OUT: begin
                    wa <= wa + 1'b1; widx <= widx + 1'b1;
                    if (widx == 4'd10) begin
                        nkeep <= nkeep + 1'b1; widx <= 4'd0;
                        state <= (nkeep + 1'b1 == MAX_DET) ? S_COUNT : S_SELI;
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
    wire unused = ^{lhw[31:AW], lsh[31:3], eoff, soff, box_base, cls_base, lw[31:16], lh[31:16], kd,
                    rem, num_q, den_rm_x, pix_x, thr, rd_word, rd_data};
endmodule
