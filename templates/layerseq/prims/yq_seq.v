// yq_seq: the layer-sequential controller. On `start` it pulses go[0]; when the running
// layer pulses its done bit it pulses the next layer's go; after the last layer it pulses
// `finished`. `cur` is the index of the running layer (for monitors and host software).
module yq_seq #(
    parameter NL = 2,
    parameter LW = 8
) (
    input wire clk,
    input wire rst,
    input wire start,
    input wire [NL-1:0] done_v,
    output reg [NL-1:0] go_v,
    output reg [LW-1:0] cur,
    output reg busy,
    output reg finished
);
    reg [NL-1:0] onehot;
    wire hit = |(done_v & onehot);
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; finished <= 1'b0; go_v <= {NL{1'b0}}; onehot <= {NL{1'b0}}; cur <= 0;
        end else begin
            go_v <= {NL{1'b0}};
            finished <= 1'b0;
            if (start && !busy) begin
                busy <= 1'b1; cur <= 0;
                onehot <= {{(NL-1){1'b0}}, 1'b1};
                go_v <= {{(NL-1){1'b0}}, 1'b1};
            end else if (busy && hit) begin
                if (onehot[NL-1]) begin
                    busy <= 1'b0; finished <= 1'b1; onehot <= {NL{1'b0}};
                end else begin
                    cur <= cur + 1'b1;
                    onehot <= onehot << 1;
                    go_v <= onehot << 1;
                end
            end
        end
    end
endmodule
