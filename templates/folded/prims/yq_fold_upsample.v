// yq_fold_upsample: the folded engine's nearest-neighbour upsample by F over C channels.
// Per output code (channel-major, row-major): read the source code, write it; the single
// memory port makes that 2 cycles per output. Cycles: 2*C*H*F*W*F + 1.
module yq_fold_upsample #(
    parameter AB = 17,
    parameter CW = 16
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire [CW-1:0] d_c, input wire [CW-1:0] d_h, input wire [CW-1:0] d_w, input wire [7:0] d_f,
    input wire [AB-1:0] d_in, input wire [AB-1:0] d_out,
    output wire m_rd, output wire m_wr, output wire [AB-1:0] m_addr, output wire [15:0] m_wdata,
    input wire [7:0] m_rbyte
);
    localparam [AB-1:0] ONE_A = 1;
    reg run, ph;
    reg [CW-1:0] c, x, y;
    reg [7:0] fx, fy;
    reg [AB-1:0] row, src, oaddr;
    wire last_x = (x == d_w - 1'b1) && (fx == d_f - 8'd1);
    wire last_y = (y == d_h - 1'b1) && (fy == d_f - 8'd1);
    assign m_rd = run && !ph;
    assign m_wr = run && ph;
    wire [AB-1:0] a = ph ? oaddr : src;
    assign m_addr = run ? a : {AB{1'b0}};
    assign m_wdata = m_wr ? {8'd0, m_rbyte} : 16'd0;
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            run <= 1'b0;
        end else if (go) begin
            run <= 1'b1; ph <= 1'b0; c <= 0; x <= 0; y <= 0; fx <= 0; fy <= 0;
            row <= d_in; src <= d_in; oaddr <= d_out;
        end else if (run) begin
            ph <= !ph;
            if (ph) begin
                oaddr <= oaddr + ONE_A;
                if (!last_x) begin
                    if (fx != d_f - 8'd1) fx <= fx + 8'd1;
                    else begin fx <= 0; x <= x + 1'b1; src <= src + ONE_A; end
                end else begin
                    fx <= 0; x <= 0;
                    if (!last_y) begin
                        if (fy != d_f - 8'd1) begin
                            fy <= fy + 8'd1; src <= row;
                        end else begin
                            fy <= 0; y <= y + 1'b1; row <= row + {{(AB-CW){1'b0}}, d_w}; src <= row + {{(AB-CW){1'b0}}, d_w};
                        end
                    end else begin
                        fy <= 0; y <= 0; row <= row + {{(AB-CW){1'b0}}, d_w}; src <= row + {{(AB-CW){1'b0}}, d_w};
                        c <= c + 1'b1;
                        if (c == d_c - 1'b1) begin
                            run <= 1'b0; done <= 1'b1;
                        end
                    end
                end
            end
        end
    end
endmodule
