// yq_add_engine: residual add of two code tensors of N elements:
// y = clamp(rs(a - ZA, SA) + rs(b - ZB, SB) + ZO, 0, QMAX) where rs is the spec's rounding
// shift by a constant (right for S > 0, left for S < 0; SA/SB are given as magnitude + flag).
// Two reads per element (a then b). Cycles: 2*N + LAT.
module yq_add_engine #(
    parameter AW = 12, parameter DW = 8, parameter N = 1, parameter NW = 16,
    parameter [AW-1:0] A_BASE = 0, parameter [AW-1:0] B_BASE = 0,
    parameter [AW-1:0] OUT_BASE = 0,
    parameter IW = 12,
    parameter ZA = 0, parameter ZB = 0, parameter ZO = 0, parameter QMAX = 255,
    parameter SA = 0, parameter SA_LEFT = 0, parameter SB = 0, parameter SB_LEFT = 0
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
    localparam [NW-1:0] N_M1 = N - 1;
    localparam signed [IW-1:0] ZA_S = ZA;
    localparam signed [IW-1:0] ZB_S = ZB;
    localparam signed [IW-1:0] ZO_S = ZO;
    localparam signed [IW-1:0] QMAX_S = QMAX;
    localparam signed [IW-1:0] HA = (SA_LEFT == 0 && SA > 0) ? (1 << (SA - 1)) : 0;
    localparam signed [IW-1:0] HB = (SB_LEFT == 0 && SB > 0) ? (1 << (SB - 1)) : 0;

    reg running, phase;
    reg [NW-1:0] i;
    reg [AW-1:0] aoff;
    assign rd_en = running;
    assign rd_addr = running ? ((phase ? B_BASE : A_BASE) + aoff) : {AW{1'b0}};
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (go) begin
            running <= 1'b1; phase <= 1'b0; i <= 0; aoff <= 0;
        end else if (running) begin
            phase <= !phase;
            if (phase) begin
                aoff <= aoff + 1'b1; i <= i + 1'b1;
                if (i == N_M1) running <= 1'b0;
            end
        end
    end

    reg v1, ph1;
    reg signed [IW-1:0] ta;
    wire signed [IW-1:0] x1 = {{(IW-DW){1'b0}}, rd_data};
    wire signed [IW-1:0] ca = x1 - ZA_S;
    wire signed [IW-1:0] cb = x1 - ZB_S;
    wire signed [IW-1:0] ra = (SA_LEFT != 0) ? (ca <<< SA) : ((ca + HA) >>> SA);
    wire signed [IW-1:0] rb = (SB_LEFT != 0) ? (cb <<< SB) : ((cb + HB) >>> SB);
    wire signed [IW-1:0] sum = ta + rb + ZO_S;
    wire signed [IW-1:0] cl = (sum < 0) ? {IW{1'b0}} : ((sum > QMAX_S) ? QMAX_S : sum);
    always @(posedge clk) begin
        v1 <= !rst && running;
        ph1 <= phase;
        if (v1 && !ph1) ta <= ra;
        wr_en <= !rst && v1 && ph1;
        wr_data <= (v1 && ph1) ? cl[DW-1:0] : {DW{1'b0}};
        wr_addr <= (v1 && ph1) ? (OUT_BASE + aoff - 1'b1) : {AW{1'b0}};
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
    wire unused_cl = ^cl[IW-1:DW];
endmodule
