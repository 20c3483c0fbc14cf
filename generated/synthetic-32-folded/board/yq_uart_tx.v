// yq_uart_tx: 8N1 UART transmitter (LSB first), baud = clk / CLKS_PER_BIT, CLKS_PER_BIT >= 4.
//
// Handshake: a byte is taken in a cycle where `valid && ready`. The start bit appears on `tx`
// (a register) in the next cycle, each of the 10 bits (start, d0..d7, stop) lasts exactly
// CLKS_PER_BIT cycles. `ready` is high while idle and also in the last cycle of the stop bit,
// so a sender that keeps `valid` high gets back-to-back frames of exactly 10 * CLKS_PER_BIT
// cycles. `ready` depends on the state only, never on `valid`. `tx` idles high.
module yq_uart_tx #(
    parameter CLKS_PER_BIT = 12
) (
    input wire clk,
    input wire rst,
    input wire [7:0] data,
    input wire valid,
    output wire ready,
    output reg tx
);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam integer FULL_I = CLKS_PER_BIT - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];

    generate
        if (CLKS_PER_BIT < 4) begin : g_check
            // Elaboration fails here: the receiver needs at least 4 clocks per bit.
            yq_uart_tx_CLKS_PER_BIT_must_be_at_least_4 u_error ();
        end
    endgenerate

    reg busy;
    reg [CW-1:0] cnt;
    reg [3:0] left;   // bits still to send after the one on `tx`
    reg [8:0] shift;  // those bits, next one in bit 0 (d0..d7, then the stop bit)

    wire bit_end = (cnt == {CW{1'b0}});
    assign ready = !busy || (bit_end && left == 4'd0);

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            tx <= 1'b1;
            cnt <= {CW{1'b0}};
            left <= 4'd0;
            shift <= 9'h1ff;
        end else if (valid && ready) begin
            busy <= 1'b1;
            tx <= 1'b0;
            cnt <= FULL;
            left <= 4'd9;
            shift <= {1'b1, data};
        end else if (busy) begin
            if (!bit_end) begin
                cnt <= cnt - 1'b1;
            end else if (left == 4'd0) begin
                busy <= 1'b0;  // stop bit done, line stays high
            end else begin
                tx <= shift[0];
                shift <= {1'b1, shift[8:1]};
                left <= left - 1'b1;
                cnt <= FULL;
            end
        end
    end
endmodule
