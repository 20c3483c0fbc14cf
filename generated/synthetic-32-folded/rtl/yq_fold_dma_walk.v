// yq_fold_dma_walk: the copy unit's address walker (yq_fold_dma), one per side.
// Segment count, word in segment, segment base. `addr` is the
// word the next step touches, `last` is high while that is the copy's last word, `ended`
// after the last step.
module yq_fold_dma_walk #(
    parameter AW = 16,
    parameter NW = 16
) (
    input wire clk,
    input wire go,
    input wire step,
    input wire [AW-1:0] base,
    input wire [AW-1:0] stride,
    input wire [NW-1:0] nseg,
    input wire [NW-1:0] seg,
    output reg [AW-1:0] addr,
    output wire last,
    output reg ended
);
    reg [NW-1:0] n, w;
    reg [AW-1:0] sbase;
    wire segend = (w == seg - 1'b1);
    assign last = segend && (n == nseg - 1'b1);
    always @(posedge clk) begin
        if (go) begin
            n <= 0; w <= 0; sbase <= base; addr <= base; ended <= 1'b0;
        end else if (step) begin
            if (last) ended <= 1'b1;
            if (segend) begin
                w <= 0; n <= n + 1'b1;
                sbase <= sbase + stride; addr <= sbase + stride;
            end else begin
                w <= w + 1'b1; addr <= addr + 1'b1;
            end
        end
    end
endmodule
