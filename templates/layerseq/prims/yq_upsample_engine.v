// yq_upsample_engine: nearest-neighbour upsampling by F over C channels: output code
// (c, y, x) copies input code (c, y/F, x/F). One code per cycle. Cycles: C*H*F*W*F + LAT.
module yq_upsample_engine #(
    parameter AW = 12, parameter DW = 8, parameter CW = 16,
    parameter C = 1, parameter H = 1, parameter W = 1, parameter F = 2,
    parameter [AW-1:0] IN_BASE = 0,
    parameter [AW-1:0] OUT_BASE = 0
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
    output wire [DW-1:0] wr_data
);
    localparam [CW-1:0] F_M1 = F - 1;
    localparam [CW-1:0] W_M1 = W - 1;
    localparam [CW-1:0] H_M1 = H - 1;
    localparam [CW-1:0] C_M1 = C - 1;
    localparam [AW-1:0] W_A = W;

    reg running;
    reg [CW-1:0] fx, x, fy, y, c;
    reg [AW-1:0] row, col, opix;
    assign rd_en = running;
    assign rd_addr = running ? (row + col) : {AW{1'b0}};
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (go) begin
            running <= 1'b1;
            fx <= 0; x <= 0; fy <= 0; y <= 0; c <= 0;
            row <= IN_BASE; col <= 0; opix <= OUT_BASE;
        end else if (running) begin
            opix <= opix + 1'b1;
            if (fx != F_M1) begin
                fx <= fx + 1'b1;
            end else if (x != W_M1) begin
                fx <= 0; x <= x + 1'b1; col <= col + 1'b1;
            end else begin
                fx <= 0; x <= 0; col <= 0;
                if (fy != F_M1) begin
                    fy <= fy + 1'b1;
                end else begin
                    fy <= 0;
                    row <= row + W_A;
                    if (y != H_M1) begin
                        y <= y + 1'b1;
                    end else begin
                        y <= 0;
                        if (c == C_M1) running <= 1'b0;
                        else c <= c + 1'b1;
                    end
                end
            end
        end
    end
    reg v1;
    reg [AW-1:0] a1;
    always @(posedge clk) begin
        v1 <= !rst && running;
        a1 <= opix;
    end
    assign wr_en = v1;
    assign wr_addr = v1 ? a1 : {AW{1'b0}};
    assign wr_data = v1 ? rd_data : {DW{1'b0}};

    reg busy;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (go) busy <= 1'b1;
            else if (busy && !running && !v1) begin
                busy <= 1'b0; done <= 1'b1;
            end
        end
    end
endmodule
