// yq_conv_engine: a k x k convolution (stride S, padding PAD reading PAD_VAL) computed by
// P multiply-accumulate lanes, one output channel per lane.
//
// Schedule: for each group of P output channels, for each output pixel (row-major), the
// CI*K*K taps are issued one per cycle (channel, then kernel row, then column); each tap
// reads one activation code and one P-lane weight word. A pixel occupies SLOT = max(T, P)
// cycles (idle slots keep the drain below from being overrun). When a pixel's last tap is
// accumulated the P sums move to a shift register that drains one channel per cycle through
// bias add, requantizer and (HAS_LUT) the SiLU table into the activation memory, while the
// next pixel accumulates. Cycles: G * HO*WO * SLOT + LAT (see src/rtl/layerseq/conv.rs).
module yq_conv_engine #(
    parameter AW = 12, parameter DW = 8, parameter WB = 8, parameter P = 4,
    parameter CW = 16,
    parameter CO = 1, parameter H = 1, parameter W = 1,
    parameter HO = 1, parameter WO = 1, parameter K = 1, parameter S = 1, parameter PAD = 0,
    parameter G = 1, parameter T = 1, parameter SLOT = 1,
    parameter [AW-1:0] PIX0 = 0,
    parameter [AW-1:0] OUT_BASE = 0,
    parameter PAD_VAL = 0,
    parameter MAC_W = 20, parameter BIAS_W = 16, parameter SUM_W = 21,
    parameter MULT_W = 1, parameter USE_MULT = 0, parameter LSH_W = 1, parameter RSH_W = 5,
    parameter SH_W = 24,
    parameter REQ_W = 8, parameter REQ_ZERO = 0, parameter REQ_QMAX = 255,
    parameter HAS_LUT = 0,
    parameter WA_W = 4, parameter PA_W = 4, parameter PRM_W = 22
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
    output wire [WA_W-1:0] w_addr,
    input wire [P*WB-1:0] w_data,
    output wire [PA_W-1:0] p_addr,
    input wire [PRM_W-1:0] p_data,
    output wire [REQ_W-1:0] lut_addr,
    input wire [DW-1:0] lut_data
);
    localparam [CW-1:0] K_M1 = K - 1;
    localparam [CW-1:0] WO_M1 = WO - 1;
    localparam [CW-1:0] HO_M1 = HO - 1;
    localparam [CW-1:0] G_M1 = G - 1;
    localparam [CW-1:0] T_C = T;
    localparam [CW-1:0] SLOT_M1 = SLOT - 1;
    localparam [CW-1:0] P_M1 = P - 1;
    localparam [CW-1:0] P_C = P;
    localparam [CW-1:0] CO_C = CO;
    localparam [CW-1:0] S_C = S;
    localparam [CW-1:0] PAD_C = PAD;
    localparam [CW-1:0] HP_C = H + PAD;
    localparam [CW-1:0] WP_C = W + PAD;
    localparam [AW-1:0] S_A = S;
    localparam [AW-1:0] SW_A = S * W;
    localparam [AW-1:0] ROWSTEP_A = W - K + 1;
    localparam [AW-1:0] CHSTEP_A = H * W - (K - 1) * W - K + 1;
    localparam [AW-1:0] HOWO_A = HO * WO;
    localparam [AW-1:0] GSTEP_A = P * HO * WO;
    localparam [WA_W:0] T_X = T;
    localparam [WA_W-1:0] T_W = T_X[WA_W-1:0];
    localparam [DW-1:0] PADV = PAD_VAL;
    localparam PROD_W = WB + DW + 1;

    // ---- issue stage: counters ------------------------------------------------------
    reg running;
    reg [CW-1:0] t, kx, ky, ci, ox, oy, og, oxs, oys, chbase;
    reg [AW-1:0] tap_off, pix_in, pix_row, gbase, opix;
    reg [WA_W-1:0] wbase, wtap;
    wire tap_valid = running && (t < T_C);
    wire [CW-1:0] iy = oys + ky;
    wire [CW-1:0] ix = oxs + kx;
    wire pad;
    generate
        if (PAD > 0) begin : g_pad
            assign pad = (iy < PAD_C) || (iy >= HP_C) || (ix < PAD_C) || (ix >= WP_C);
        end else begin : g_nopad
            assign pad = (iy >= HP_C) || (ix >= WP_C);
        end
    endgenerate
    wire slot_end = (t == SLOT_M1);
    wire last_px = (ox == WO_M1) && (oy == HO_M1);
    assign rd_en = tap_valid && !pad;
    assign rd_addr = rd_en ? (pix_in + tap_off) : {AW{1'b0}};
    assign w_addr = wbase + wtap;

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (go) begin
            running <= 1'b1;
            t <= 0; kx <= 0; ky <= 0; ci <= 0; ox <= 0; oy <= 0; og <= 0;
            oxs <= 0; oys <= 0; chbase <= 0;
            tap_off <= 0; pix_in <= PIX0; pix_row <= PIX0; gbase <= OUT_BASE; opix <= OUT_BASE;
            wbase <= 0; wtap <= 0;
        end else if (running) begin
            if (tap_valid) begin
                wtap <= wtap + 1'b1;
                if (kx != K_M1) begin
                    kx <= kx + 1'b1; tap_off <= tap_off + 1'b1;
                end else if (ky != K_M1) begin
                    kx <= 0; ky <= ky + 1'b1; tap_off <= tap_off + ROWSTEP_A;
                end else begin
                    kx <= 0; ky <= 0; ci <= ci + 1'b1; tap_off <= tap_off + CHSTEP_A;
                end
            end
            if (!slot_end) begin
                t <= t + 1'b1;
            end else begin
                t <= 0; kx <= 0; ky <= 0; ci <= 0; tap_off <= 0; wtap <= 0;
                if (!last_px) begin
                    opix <= opix + 1'b1;
                    if (ox != WO_M1) begin
                        ox <= ox + 1'b1; oxs <= oxs + S_C; pix_in <= pix_in + S_A;
                    end else begin
                        ox <= 0; oxs <= 0; oy <= oy + 1'b1; oys <= oys + S_C;
                        pix_row <= pix_row + SW_A; pix_in <= pix_row + SW_A;
                    end
                end else begin
                    ox <= 0; oxs <= 0; oy <= 0; oys <= 0; pix_in <= PIX0; pix_row <= PIX0;
                    if (og == G_M1) begin
                        running <= 1'b0;
                    end else begin
                        og <= og + 1'b1; chbase <= chbase + P_C; wbase <= wbase + T_W;
                        gbase <= gbase + GSTEP_A; opix <= gbase + GSTEP_A;
                    end
                end
            end
        end
    end

    // ---- stage 1: operands arrive; multiply -------------------------------------------
    reg v1, pad1, first1, last1;
    reg [CW-1:0] ch1;
    reg [AW-1:0] opix1;
    always @(posedge clk) begin
        v1 <= !rst && tap_valid;
        pad1 <= pad;
        first1 <= (t == 0);
        last1 <= (t == T_C - 1'b1);
        ch1 <= chbase;
        opix1 <= opix;
    end
    wire [DW-1:0] x1 = pad1 ? PADV : rd_data;
    wire signed [DW:0] xs1 = {1'b0, x1};

    reg v2, first2, last2;
    reg [CW-1:0] ch2;
    reg [AW-1:0] opix2;
    reg signed [PROD_W-1:0] prod2 [0:P-1];
    always @(posedge clk) begin
        v2 <= !rst && v1;
        first2 <= first1;
        last2 <= last1;
        ch2 <= ch1;
        opix2 <= opix1;
    end

    // ---- stage 2: accumulate; on the last tap hand the sums to the drain --------------
    reg signed [MAC_W-1:0] acc [0:P-1];
    reg signed [MAC_W-1:0] bank [0:P-1];
    reg dact;
    wire load = v2 && last2;
    genvar gp;
    generate
        for (gp = 0; gp < P; gp = gp + 1) begin : g_lane
            wire signed [WB-1:0] wl = w_data[gp*WB +: WB];
            always @(posedge clk) prod2[gp] <= wl * xs1;
            wire signed [MAC_W-1:0] pe = {{(MAC_W-PROD_W){prod2[gp][PROD_W-1]}}, prod2[gp]};
            wire signed [MAC_W-1:0] nxt = first2 ? pe : acc[gp] + pe;
            always @(posedge clk) if (v2) acc[gp] <= nxt;
            if (gp < P - 1) begin : g_shift
                always @(posedge clk) begin
                    if (load) bank[gp] <= nxt;
                    else if (dact) bank[gp] <= bank[gp + 1];
                end
            end else begin : g_top
                always @(posedge clk) if (load) bank[gp] <= nxt;
            end
        end
    endgenerate

    // ---- drain: bias, requantize, table, write ----------------------------------------
    reg [CW-1:0] dcnt, dch;
    reg [AW-1:0] daddr;
    always @(posedge clk) begin
        if (rst) begin
            dact <= 1'b0;
        end else if (load) begin
            dact <= 1'b1; dcnt <= 0; dch <= ch2; daddr <= opix2;
        end else if (dact) begin
            dcnt <= dcnt + 1'b1; dch <= dch + 1'b1; daddr <= daddr + HOWO_A;
            if (dcnt == P_M1) dact <= 1'b0;
        end
    end
    assign p_addr = dch[PA_W-1:0];

    reg e1, e2, e3;
    reg [AW-1:0] a1, a2, a3;
    reg signed [MAC_W-1:0] s0;
    reg signed [SUM_W-1:0] s1;
    reg [MULT_W-1:0] m1;
    reg [LSH_W-1:0] l1;
    reg [RSH_W-1:0] r1;
    reg [REQ_W-1:0] y2, y3;
    wire signed [BIAS_W-1:0] bias0 = p_data[BIAS_W-1:0];
    wire [REQ_W-1:0] yq;
    reg e0;
    reg [AW-1:0] a0;
    always @(posedge clk) begin
        e0 <= !rst && dact && (dch < CO_C);
        a0 <= daddr;
        s0 <= bank[0];
        e1 <= !rst && e0;
        a1 <= a0;
        s1 <= {{(SUM_W-MAC_W){s0[MAC_W-1]}}, s0} + {{(SUM_W-BIAS_W){bias0[BIAS_W-1]}}, bias0};
        m1 <= p_data[BIAS_W +: MULT_W];
        l1 <= p_data[BIAS_W+MULT_W +: LSH_W];
        r1 <= p_data[BIAS_W+MULT_W+LSH_W +: RSH_W];
        e2 <= !rst && e1;
        a2 <= a1;
        y2 <= yq;
        e3 <= !rst && e2;
        a3 <= a2;
        y3 <= y2;
    end
    yq_requant #(
        .IN_W(SUM_W), .MULT_W(MULT_W), .USE_MULT(USE_MULT), .LSH_W(LSH_W), .RSH_W(RSH_W),
        .SH_W(SH_W), .OUT_W(REQ_W), .ZERO(REQ_ZERO), .QMAX(REQ_QMAX)
    ) u_req (.v(s1), .mult(m1), .lsh(l1), .rsh(r1), .y(yq));
    assign lut_addr = y2;
    assign wr_en = e3;
    assign wr_addr = e3 ? a3 : {AW{1'b0}};
    generate
        if (HAS_LUT != 0) begin : g_lut
            assign wr_data = e3 ? lut_data : {DW{1'b0}};
            wire unused_y3 = ^y3;
        end else if (REQ_W == DW) begin : g_nolut
            assign wr_data = e3 ? y3 : {DW{1'b0}};
            wire unused_lut = ^lut_data;
        end else begin : g_nolut_ext
            assign wr_data = e3 ? {{(DW-REQ_W){1'b0}}, y3} : {DW{1'b0}};
            wire unused_lut = ^lut_data;
        end
    endgenerate

    // ---- done: one pulse when every stage is empty ------------------------------------
    reg busy;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (go) busy <= 1'b1;
            else if (busy && !running && !v1 && !v2 && !dact && !e0 && !e1 && !e2 && !e3) begin
                busy <= 1'b0; done <= 1'b1;
            end
        end
    end
endmodule
