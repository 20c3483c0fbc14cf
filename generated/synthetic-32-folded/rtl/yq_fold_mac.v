// yq_fold_mac: behavioural P-lane multiply-accumulate array of the folded engine (one
// signed 8-bit activation broadcast to P signed 8-bit weights per cycle). A tap presented
// with `en` is multiplied in the next cycle and accumulated in the one after; `first`
// restarts the sums, `valid` pulses two cycles after the tap marked `last`, and the sums
// stay unchanged until the next `first` tap is accumulated.
module yq_fold_mac #(
    parameter P = 16,
    parameter ACC_W = 32
) (
    input wire clk,
    input wire rst,
    input wire en, input wire first, input wire last,
    input wire signed [7:0] act,
    input wire [P*8-1:0] w,
    output wire [P*ACC_W-1:0] acc,
    output reg valid
);
    reg en1, first1, last1;
    always @(posedge clk) begin
        en1 <= !rst && en; first1 <= first; last1 <= last;
        valid <= !rst && en1 && last1;
    end
    genvar l;
    generate
        for (l = 0; l < P; l = l + 1) begin : g_lane
            reg signed [15:0] prod;
            reg signed [ACC_W-1:0] sum;
            wire signed [7:0] wl = w[l*8 +: 8];
            always @(posedge clk) begin
                prod <= wl * act;
                if (en1) sum <= (first1 ? {ACC_W{1'b0}} : sum) + {{(ACC_W-16){prod[15]}}, prod};
            end
            assign acc[l*ACC_W +: ACC_W] = sum;
        end
    endgenerate
endmodule
