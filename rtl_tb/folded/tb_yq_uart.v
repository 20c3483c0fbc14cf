`timescale 1ps / 1ps
// tb_yq_uart: checks yq_uart_tx and yq_uart_rx at one CLKS_PER_BIT.
//
// 1. Loopback: N random bytes through yq_uart_tx into a yq_uart_rx, with random gaps between
//    them (mostly none, so most frames are queued back to back). A monitor checks every cycle
//    of the tx line against the expected waveform (each bit exactly CLKS_PER_BIT cycles; a
//    frame starts in the cycle after its handshake, or right after the previous stop bit if
//    the byte was queued) and the receiver must return every byte in order.
// 2. Stream (STREAM=1): a behavioural sender drives a second receiver asynchronously with bit
//    times 2 % long, exact and 2 % short (N bytes each), with random idle gaps, back-to-back
//    frames, short low glitches while idle (to be ignored) and frames with a 0 stop bit (to be
//    flagged as framing errors, the data still delivered).
// Prints "RESULT PASS" or "RESULT FAIL ..." and finishes.
module tb_yq_uart;
    parameter CLKS_PER_BIT = 12;
    parameter HALF_PS = 20833;  // half clock period in ps (24 MHz: 20833, 36 MHz: 13889)
    parameter N = 200;
    parameter SEED = 1;
    parameter STREAM = 1;

    localparam integer FRAME = 10 * CLKS_PER_BIT;
    localparam integer NS = 3 * N;

    reg clk = 1'b0;
    always #(HALF_PS) clk = ~clk;

    integer cyc = 0;
    always @(posedge clk) cyc <= cyc + 1;

    reg rst = 1'b1;
    reg go = 1'b0;
    integer errors = 0;

    // ---------------------------------------------------------------- devices under test
    reg [7:0] tx_data = 8'd0;
    reg tx_valid = 1'b0;
    wire tx_ready, tx_line;
    yq_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .data(tx_data), .valid(tx_valid), .ready(tx_ready), .tx(tx_line)
    );
    wire [7:0] lb_data;
    wire lb_valid, lb_ferr;
    yq_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_lb (
        .clk(clk), .rst(rst), .rx(tx_line), .data(lb_data), .valid(lb_valid), .frame_err(lb_ferr)
    );
    reg line = 1'b1;
    wire [7:0] st_data;
    wire st_valid, st_ferr;
    yq_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_st (
        .clk(clk), .rst(rst), .rx(line), .data(st_data), .valid(st_valid), .frame_err(st_ferr)
    );

    // ---------------------------------------------------------------- stimulus tables
    reg [7:0] lb_byte [0:N-1];
    integer lb_gap [0:N-1];     // idle cycles before asserting valid
    integer lb_assert [0:N-1];  // cycle count when valid was asserted
    reg [7:0] st_byte [0:NS-1];
    reg st_bad [0:NS-1];        // send a 0 stop bit
    reg st_glitch [0:NS-1];     // a short low pulse in the idle time before the frame
    integer st_gap [0:NS-1];    // idle time before the frame, quarter bits

    // xorshift32, the same sequence in every simulator
    reg [31:0] rs;
    reg [31:0] r;
    task rnd;
        begin
            rs = rs ^ (rs << 13);
            rs = rs ^ (rs >> 17);
            rs = rs ^ (rs << 5);
            r = rs;
        end
    endtask

    integer i;
    initial begin
        rs = SEED;
        for (i = 0; i < N; i = i + 1) begin
            rnd; lb_byte[i] = r[7:0];
            rnd;
            if (r[2:0] < 3'd5) lb_gap[i] = 0;
            else if (r[2:0] < 3'd7) lb_gap[i] = {24'd0, r[15:8]} % (3 * CLKS_PER_BIT);
            else lb_gap[i] = {20'd0, r[27:16]} % (2 * FRAME);
            lb_assert[i] = 0;
        end
        for (i = 0; i < NS; i = i + 1) begin
            rnd; st_byte[i] = r[7:0];
            st_bad[i] = (r[11:8] == 4'd0);
            st_glitch[i] = (r[15:12] == 4'd0);
            st_gap[i] = (r[17:16] == 2'd0) ? {24'd0, r[31:24]} % 13 : 0;
            if (i > 0 && st_bad[i-1] && st_gap[i] < 4) st_gap[i] = 4;
        end
        repeat (4) @(negedge clk);
        rst = 1'b0;
        go = 1'b1;
    end

    // ---------------------------------------------------------------- loopback sender
    integer tx_taken = 0;
    always @(posedge clk) if (tx_valid && tx_ready) tx_taken <= tx_taken + 1;

    reg lb_sent = 1'b0;
    integer li;
    initial begin
        wait (go);
        @(negedge clk);
        for (li = 0; li < N; li = li + 1) begin
            tx_valid = 1'b0;
            repeat (lb_gap[li]) @(negedge clk);
            tx_valid = 1'b1;
            tx_data = lb_byte[li];
            lb_assert[li] = cyc;
            @(negedge clk);
            while (tx_taken != li + 1) @(negedge clk);
        end
        tx_valid = 1'b0;
        lb_sent = 1'b1;
    end

    // ---------------------------------------------------------------- tx waveform monitor
    integer mon_idx = 0, mon_cyc = 0, mon_prev = 0, mon_exp = 0, mon_k = 0;
    reg mon_busy = 1'b0;
    reg mon_bit;
    always @(negedge clk) begin
        if (!rst) begin
            if (!mon_busy && tx_line == 1'b0) begin
                mon_busy = 1'b1;
                mon_cyc = 0;
                if (mon_idx >= N) begin
                    errors = errors + 1;
                    $display("tx: unexpected frame %0d at cycle %0d", mon_idx, cyc);
                end else begin
                    mon_exp = lb_assert[mon_idx] + 1;
                    if (mon_idx > 0 && mon_prev + FRAME > mon_exp) mon_exp = mon_prev + FRAME;
                    if (cyc != mon_exp) begin
                        errors = errors + 1;
                        $display("tx: frame %0d starts at cycle %0d, expected %0d", mon_idx, cyc,
                                 mon_exp);
                    end
                end
                mon_prev = cyc;
            end
            if (mon_busy) begin
                mon_k = mon_cyc / CLKS_PER_BIT;
                if (mon_k == 0) mon_bit = 1'b0;
                else if (mon_k == 9 || mon_idx >= N) mon_bit = 1'b1;
                else mon_bit = lb_byte[mon_idx][mon_k-1];
                if (tx_line !== mon_bit) begin
                    errors = errors + 1;
                    if (errors < 10)
                        $display("tx: frame %0d bit %0d cycle %0d: line %b, expected %b",
                                 mon_idx, mon_k, mon_cyc, tx_line, mon_bit);
                end
                mon_cyc = mon_cyc + 1;
                if (mon_cyc == FRAME) begin
                    mon_busy = 1'b0;
                    mon_idx = mon_idx + 1;
                end
            end
        end
    end

    // ---------------------------------------------------------------- loopback receiver check
    integer lb_got = 0;
    always @(negedge clk) begin
        if (!rst) begin
            if (lb_ferr) begin
                errors = errors + 1;
                $display("loopback: framing error at cycle %0d", cyc);
            end
            if (lb_valid) begin
                if (lb_got >= N || lb_data !== lb_byte[lb_got]) begin
                    errors = errors + 1;
                    if (errors < 10)
                        $display("loopback: byte %0d is %h, expected %h", lb_got, lb_data,
                                 lb_byte[lb_got]);
                end
                lb_got = lb_got + 1;
            end
        end
    end

    // ---------------------------------------------------------------- behavioural serial stream
    reg st_sent = 1'b0;
    integer si, sk, ph;
    real bit_ps;
    initial begin
        wait (go);
        #(3 * HALF_PS + 1234);
        if (STREAM != 0) begin
            for (ph = 0; ph < 3; ph = ph + 1) begin
                bit_ps = 2.0 * HALF_PS * CLKS_PER_BIT * (1.0 + 0.02 * (ph - 1));
                for (si = ph * N; si < (ph + 1) * N; si = si + 1) begin
                    if (st_glitch[si]) begin
                        #(0.5 * bit_ps) line = 1'b0;
                        #(0.25 * bit_ps) line = 1'b1;
                        #(1.5 * bit_ps);
                    end
                    #(0.25 * bit_ps * st_gap[si]);
                    line = 1'b0;
                    #(bit_ps);
                    for (sk = 0; sk < 8; sk = sk + 1) begin
                        line = st_byte[si][sk];
                        #(bit_ps);
                    end
                    line = !st_bad[si];
                    #(bit_ps);
                    line = 1'b1;
                end
            end
        end
        st_sent = 1'b1;
    end

    integer st_got = 0;
    always @(negedge clk) begin
        if (!rst && (st_valid || st_ferr)) begin
            if (st_got >= NS) begin
                errors = errors + 1;
                $display("stream: unexpected frame at cycle %0d", cyc);
            end else if (st_valid !== !st_bad[st_got] || st_ferr !== st_bad[st_got]
                         || st_data !== st_byte[st_got]) begin
                errors = errors + 1;
                if (errors < 10)
                    $display("stream: frame %0d: data %h valid %b frame_err %b, expected %h %b %b",
                             st_got, st_data, st_valid, st_ferr, st_byte[st_got],
                             !st_bad[st_got], st_bad[st_got]);
            end
            st_got = st_got + 1;
        end
    end

    // ---------------------------------------------------------------- verdict
    initial begin
        wait (go);
        wait (lb_sent && st_sent);
        repeat (3 * FRAME) @(negedge clk);
        if (lb_got != N || mon_idx != N) begin
            errors = errors + 1;
            $display("loopback: %0d bytes received, %0d frames seen, %0d sent", lb_got, mon_idx, N);
        end
        if (STREAM != 0 && st_got != NS) begin
            errors = errors + 1;
            $display("stream: %0d frames received, %0d sent", st_got, NS);
        end
        if (errors == 0)
            $display("RESULT PASS clks_per_bit=%0d loopback=%0d stream=%0d", CLKS_PER_BIT, lb_got,
                     st_got);
        else
            $display("RESULT FAIL clks_per_bit=%0d errors=%0d", CLKS_PER_BIT, errors);
        $finish;
    end

    initial begin
        // counted in cycles: Verilator 5.006 truncates long delays to 32 bits
        repeat ((3 * N + 2 * NS + 100) * FRAME) @(posedge clk);
        $display("RESULT FAIL timeout");
        $finish;
    end
endmodule
