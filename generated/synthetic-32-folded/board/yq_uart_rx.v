// yq_uart_rx: 8N1 UART receiver (LSB first), baud = clk / CLKS_PER_BIT, CLKS_PER_BIT >= 4.
//
// The line passes a 2-flip-flop synchronizer (rx_m, rx_s); every decision below uses rx_s.
// A start bit is detected on the first low sample while idle; it is confirmed (re-sampled)
// (CLKS_PER_BIT - 1) / 2 cycles later, i.e. within half a clock of the middle of the bit on
// average (the edge lies somewhere in the clock before its detection). A low pulse shorter
// than that is ignored.
// The data bits and the stop bit are sampled every CLKS_PER_BIT cycles after it (mid-bit).
// The receiver is idle again right after the middle of the stop bit, so it resynchronises on
// every start edge; this tolerates a sender whose rate is a few percent off (the testbench
// checks +-2 % at 8 clocks per bit and up).
//
// Outputs (registered, one-cycle pulses, in the cycle after the stop bit was sampled):
//   valid     : stop bit was 1; `data` holds the byte.
//   frame_err : stop bit was 0 (framing error or break); `data` holds the bits that were
//               received, valid stays low, and the receiver waits for the line to return
//               high before it looks for the next start bit.
// `data` holds its value until the next frame ends.
module yq_uart_rx #(
    parameter CLKS_PER_BIT = 12
) (
    input wire clk,
    input wire rst,
    input wire rx,
    output reg [7:0] data,
    output reg valid,
    output reg frame_err
);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam integer FULL_I = CLKS_PER_BIT - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];
    localparam integer HALF_I = (CLKS_PER_BIT - 3) / 2;
    localparam [CW-1:0] HALF = HALF_I[CW-1:0];

    localparam [2:0] S_IDLE = 3'd0;
    localparam [2:0] S_START = 3'd1;
    localparam [2:0] S_DATA = 3'd2;
    localparam [2:0] S_STOP = 3'd3;
    localparam [2:0] S_BREAK = 3'd4;

    generate
        if (CLKS_PER_BIT < 4) begin : g_check
            // Elaboration fails here: fewer than 4 clocks per bit cannot find the mid-bit.
            yq_uart_rx_CLKS_PER_BIT_must_be_at_least_4 u_error ();
        end
    endgenerate

    reg rx_m, rx_s;
    reg [2:0] state;
    reg [CW-1:0] cnt;
    reg [2:0] nbit;
    reg [7:0] shift;

    always @(posedge clk) begin
        valid <= 1'b0;
        frame_err <= 1'b0;
        if (rst) begin
            rx_m <= 1'b1;
            rx_s <= 1'b1;
            state <= S_IDLE;
            cnt <= {CW{1'b0}};
            nbit <= 3'd0;
            shift <= 8'd0;
            data <= 8'd0;
        end else begin
            rx_m <= rx;
            rx_s <= rx_m;
            case (state)
                S_IDLE: begin
                    if (!rx_s) begin
                        state <= S_START;
                        cnt <= HALF;
                    end
                end
                S_START: begin
                    if (cnt != {CW{1'b0}}) begin
                        cnt <= cnt - 1'b1;
                    end else if (rx_s) begin
                        state <= S_IDLE;  // a glitch, not a start bit
                    end else begin
                        state <= S_DATA;
                        cnt <= FULL;
                        nbit <= 3'd0;
                    end
                end
                S_DATA: begin
                    if (cnt != {CW{1'b0}}) begin
                        cnt <= cnt - 1'b1;
                    end else begin
                        shift <= {rx_s, shift[7:1]};
                        cnt <= FULL;
                        nbit <= nbit + 1'b1;
                        if (nbit == 3'd7) state <= S_STOP;
                    end
                end
                S_STOP: begin
                    if (cnt != {CW{1'b0}}) begin
                        cnt <= cnt - 1'b1;
                    end else begin
                        data <= shift;
                        if (rx_s) begin
                            valid <= 1'b1;
                            state <= S_IDLE;
                        end else begin
                            frame_err <= 1'b1;
                            state <= S_BREAK;
                        end
                    end
                end
                default: begin  // S_BREAK: wait for the line to go high
                    if (rx_s) state <= S_IDLE;
                end
            endcase
        end
    end
endmodule
