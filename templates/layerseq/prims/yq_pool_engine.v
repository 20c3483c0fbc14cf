// yq_pool_engine: K x K max-pooling (stride S, padding PAD) over C channels. Padded
// positions read as code 0, which never wins because every window holds a real code >= 0
// (the spec's "padding is ignored"). One tap per cycle, K*K cycles per output code; output
// codes are written in channel-major order. Cycles: C*HO*WO*K*K + LAT.
module yq_pool_engine #(
    parameter AW = 12, parameter DW = 8, parameter CW = 16,
    parameter C = 1, parameter H = 1, parameter W = 1, parameter HO = 1, parameter WO = 1,
    parameter K = 1, parameter S = 1, parameter PAD = 0,
    parameter [AW-1:0] PIX0 = 0,
    parameter [AW-1:0] OUT_BASE = 0
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    output wire rd_en,
    output wire [AW-1:0] rd_addr,
    input wire [DW-1:0] rd_data,
    output reg wr_en,
    output reg [AW-1:0] wr_addr,
    output reg [DW-1:0] wr_data
);
    localparam [CW-1:0] K_M1 = K - 1;
    localparam [CW-1:0] C_M1 = C - 1;
    localparam [CW-1:0] WO_M1 = WO - 1;
    localparam [CW-1:0] HO_M1 = HO - 1;
    localparam [CW-1:0] S_C = S;
    localparam [CW-1:0] PAD_C = PAD;
    localparam [CW-1:0] HP_C = H + PAD;
    localparam [CW-1:0] WP_C = W + PAD;
    localparam [AW-1:0] S_A = S;
    localparam [AW-1:0] SW_A = S * W;
    localparam [AW-1:0] HW_A = H * W;
    localparam [AW-1:0] ROWSTEP_A = W - K + 1;

    reg running;
    reg [CW-1:0] kx, ky, c, ox, oy, oxs, oys;
    reg [AW-1:0] tap_off, pix_in, pix_row, cbase, opix;
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
    wire tap_last = (kx == K_M1) && (ky == K_M1);
    wire px_last = (ox == WO_M1) && (oy == HO_M1);
    assign rd_en = running && !pad;
    assign rd_addr = rd_en ? (pix_in + tap_off) : {AW{1'b0}};

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (go) begin
            running <= 1'b1;
            kx <= 0; ky <= 0; c <= 0; ox <= 0; oy <= 0; oxs <= 0; oys <= 0;
            tap_off <= 0; pix_in <= PIX0; pix_row <= PIX0; cbase <= PIX0; opix <= OUT_BASE;
        end else if (running) begin
            if (kx != K_M1) begin
                kx <= kx + 1'b1; tap_off <= tap_off + 1'b1;
            end else if (ky != K_M1) begin
                kx <= 0; ky <= ky + 1'b1; tap_off <= tap_off + ROWSTEP_A;
            end else begin
                kx <= 0; ky <= 0; tap_off <= 0; opix <= opix + 1'b1;
                if (ox != WO_M1) begin
                    ox <= ox + 1'b1; oxs <= oxs + S_C; pix_in <= pix_in + S_A;
                end else if (oy != HO_M1) begin
                    ox <= 0; oxs <= 0; oy <= oy + 1'b1; oys <= oys + S_C;
                    pix_row <= pix_row + SW_A; pix_in <= pix_row + SW_A;
                end else begin
                    ox <= 0; oxs <= 0; oy <= 0; oys <= 0;
                    pix_row <= cbase + HW_A; pix_in <= cbase + HW_A; cbase <= cbase + HW_A;
                    if (c == C_M1) running <= 1'b0;
                    else c <= c + 1'b1;
                end
            end
        end
    end

    // Stage 1: the code arrives (or the pad value 0); fold it into the running maximum.
    reg v1, pad1, first1, last1;
    reg [AW-1:0] a1;
    reg [DW-1:0] m;
    always @(posedge clk) begin
        v1 <= !rst && running;
        pad1 <= pad;
        first1 <= (kx == 0) && (ky == 0);
        last1 <= tap_last;
        a1 <= opix;
    end
    wire [DW-1:0] x1 = pad1 ? {DW{1'b0}} : rd_data;
    wire [DW-1:0] mx = (first1 || x1 > m) ? x1 : m;
    always @(posedge clk) begin
        if (v1) m <= mx;
        wr_en <= !rst && v1 && last1;
        wr_addr <= (v1 && last1) ? a1 : {AW{1'b0}};
        wr_data <= (v1 && last1) ? mx : {DW{1'b0}};
    end

    reg busy;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (go) busy <= 1'b1;
            else if (busy && !running && !v1 && !wr_en) begin
                busy <= 1'b0; done <= 1'b1;
            end
        end
    end
    wire unused_px = px_last;
endmodule
